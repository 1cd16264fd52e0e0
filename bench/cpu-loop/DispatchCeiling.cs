using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;

namespace Sharpvisor.Bench.CpuLoop;

/// <summary>An instruction table whose handlers do nothing except those that steer the loop: the dispatch ceiling.</summary>
internal static class DispatchCeiling
{
    public static unsafe InstructionTable Table()
    {
        var table = new InstructionTable();
        foreach (var code in InstructionTable.Default.ImplementedForms())
        {
            bool steers = code.Mnemonic() is Mnemonic.Dec or Mnemonic.Jne or Mnemonic.Ret or Mnemonic.Ud2;
            table.Set(code, steers ? InstructionTable.Default[code] : &Nothing);
        }
        return table;
    }

    private static void Nothing(CpuCore cpu, ref Instruction instruction) { }
}
