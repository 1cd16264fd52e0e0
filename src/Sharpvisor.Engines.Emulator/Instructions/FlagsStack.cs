using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// PUSHF/PUSHFQ and POPF/POPFQ with user-mode (CPL 3, IOPL 0) semantics, the only mode the emulator runs yet:
/// POPF changes CF PF AF ZF SF TF DF OF NT AC ID and leaves IF, IOPL, VIF, VIP and VM as they were (no fault,
/// as on hardware); RF is cleared. TF is stored but single-step traps are not delivered. System-mode rules
/// (CPL 0 may change IF and IOPL) come with system mode. PUSHF stores RFLAGS with RF and VM read as zero.
/// </summary>
public static unsafe class FlagsStack
{
    private const ulong Trap = 1 << 8, Nested = 1 << 14, Resume = 1 << 16, Virtual8086 = 1 << 17, AlignmentCheck = 1 << 18, Identification = 1 << 21;

    /// <summary>The RFLAGS bits POPF may change at CPL 3 with IOPL 0.</summary>
    public const ulong UserWritableFlags = LazyFlags.ArithmeticMask | Trap | CpuCore.DirectionFlag | Nested | AlignmentCheck | Identification;

    public static void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Pushf, &Pushf);
        table.SetAllGeneralForms(Mnemonic.Pushfq, &Pushf);
        table.SetAllGeneralForms(Mnemonic.Popf, &Popf);
        table.SetAllGeneralForms(Mnemonic.Popfq, &Popf);
    }

    private static int Width(in Instruction i) => i.Code is Code.Pushfw or Code.Popfw ? 2 : 8;

    private static void Pushf(CpuCore cpu, ref Instruction i)
    {
        int width = Width(i);
        Stack.Push(cpu, cpu.Rflags & ~(Resume | Virtual8086) & Operands.Mask(width), width);
    }

    private static void Popf(CpuCore cpu, ref Instruction i)
    {
        int width = Width(i);
        ulong writable = UserWritableFlags & Operands.Mask(width);
        ulong value = Stack.Pop(cpu, width);
        cpu.Rflags = ((cpu.Rflags & ~writable) | (value & writable)) & ~Resume;
    }
}
