namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>Registers every x87 group, FXSAVE/FXRSTOR and EMMS.</summary>
public static class X87Instructions
{
    public static void Register(InstructionTable table)
    {
        X87Arithmetic.Register(table);
        X87LoadStore.Register(table);
        X87Compare.Register(table);
        X87Control.Register(table);
        FxsaveInstructions.Register(table);
    }
}
