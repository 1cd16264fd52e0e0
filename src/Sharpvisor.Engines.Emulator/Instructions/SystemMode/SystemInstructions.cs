namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>The system-mode instruction groups, registered together from <see cref="InstructionTable"/>.</summary>
public static class SystemInstructions
{
    public static void Register(InstructionTable table)
    {
        ControlRegisters.Register(table);
        DescriptorTables.Register(table);
        SegmentInstructions.Register(table);
        InterruptInstructions.Register(table);
        SystemCalls.Register(table);
        MsrInstructions.Register(table);
        PortIo.Register(table);
        LegacyModeForms.Register(table); // last: borrows handlers the other groups set
    }
}
