using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions.SystemMode;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// PUSHF/PUSHFD/PUSHFQ and POPF/POPFD/POPFQ. POPF always changes CF PF AF ZF SF TF DF OF NT AC ID and clears RF;
/// IF only when CPL &lt;= IOPL and IOPL only at CPL 0 (in protected mode; real mode runs at CPL 0), and otherwise
/// leaves them as they were without a fault, as hardware does; VM, VIF and VIP never change. POPF that sets IF opens
/// the interrupt window. TF is stored but single-step traps are not delivered. PUSHF stores RFLAGS with RF and VM
/// read as zero. Virtual-8086 mode (IOPL-sensitive POPF) is not supported.
/// </summary>
public static class FlagsStack
{
    private const ulong Trap = 1 << 8, Nested = 1 << 14, Resume = 1 << 16, Virtual8086 = 1 << 17, AlignmentCheck = 1 << 18, Identification = 1 << 21;

    /// <summary>The RFLAGS bits POPF may change at any privilege.</summary>
    public const ulong UserWritableFlags = LazyFlags.ArithmeticMask | Trap | CpuCore.DirectionFlag | Nested | AlignmentCheck | Identification;

    public static unsafe void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Pushf, &Pushf);
        table.SetAllGeneralForms(Mnemonic.Pushfq, &Pushf);
        table.SetAllGeneralForms(Mnemonic.Popf, &Popf);
        table.SetAllGeneralForms(Mnemonic.Popfq, &Popf);
        table.Set(Code.Pushfd, &Pushf); // 32-bit code
        table.Set(Code.Popfd, &Popf);
    }

    private static int Width(in Instruction i) => i.Code switch
    {
        Code.Pushfw or Code.Popfw => 2,
        Code.Pushfd or Code.Popfd => 4,
        _ => 8,
    };

    private static void Pushf(CpuCore cpu, ref Instruction i)
    {
        int width = Width(i);
        SystemStack.Push(cpu, cpu.Rflags & ~(Resume | Virtual8086) & Operands.Mask(width), width);
    }

    private static void Popf(CpuCore cpu, ref Instruction i)
    {
        int width = Width(i);
        ulong writable = UserWritableFlags;
        if (cpu.Cpl == 0) writable |= CpuCore.IoplMask | CpuCore.InterruptFlag;
        else if (cpu.Cpl <= cpu.Iopl) writable |= CpuCore.InterruptFlag;
        writable &= Operands.Mask(width);
        ulong value = SystemStack.Pop(cpu, width);
        ulong old = cpu.Rflags;
        cpu.Rflags = ((old & ~writable) | (value & writable)) & ~Resume;
        InterruptInstructions.AfterFlagsChange(cpu, old);
    }
}
