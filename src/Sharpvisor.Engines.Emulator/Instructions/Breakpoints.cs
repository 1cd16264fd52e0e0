using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>INT3: raises #BP as a trap, so the interpreter leaves RIP after the instruction.</summary>
public static unsafe class Breakpoints
{
    public static void Register(InstructionTable table) => table.SetAllGeneralForms(Mnemonic.Int3, &Int3);

    private static void Int3(CpuCore cpu, ref Instruction i) => throw new GuestFault(GuestFault.Breakpoint);
}
