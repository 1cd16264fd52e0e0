using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.CpuCore;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// INT n, INT3, INT1, INTO, IRET/IRETD/IRETQ and HLT. In system mode (<see cref="CpuCore.DeliverExceptions"/>) the
/// software interrupts go through the IDT with RIP after the instruction pushed, and a fault in their delivery (the
/// gate DPL check, a bad stack) is reported at the instruction itself. Without system mode they stop the run as a
/// trap, as INT3 always did. INTO is invalid in 64-bit mode (the decoder gives #UD).
/// </summary>
public static class InterruptInstructions
{
    public static unsafe void Register(InstructionTable table)
    {
        table.Set(Code.Int_imm8, &Int);
        table.Set(Code.Int3, &Int3);
        table.Set(Code.Int1, &Int1);
        table.Set(Code.Into, &Into);
        table.Set(Code.Iretw, &Iret);
        table.Set(Code.Iretd, &Iret);
        table.Set(Code.Iretq, &Iret);
        table.Set(Code.Hlt, &Hlt);
    }

    private static void Software(CpuCore cpu, byte vector, EventSource source)
    {
        if (!cpu.DeliverExceptions) throw GuestFault.SoftwareInterrupt(vector);
        EventDelivery.Deliver(cpu, vector, null, source);
    }

    private static void Int(CpuCore cpu, ref Instruction i) => Software(cpu, i.Immediate8, EventSource.SoftwareInterrupt);

    private static void Int3(CpuCore cpu, ref Instruction i) => Software(cpu, GuestFault.Breakpoint, EventSource.SoftwareException);

    private static void Int1(CpuCore cpu, ref Instruction i) => Software(cpu, GuestFault.Debug, EventSource.PrivilegedSoftwareException);

    private static void Into(CpuCore cpu, ref Instruction i)
    {
        if (cpu.Flags.Overflow) Software(cpu, GuestFault.Overflow, EventSource.SoftwareException);
    }

    /// <summary>HLT (CPL 0): the interpreter stops with <see cref="StopReason.Halted"/>, RIP after the HLT.</summary>
    private static void Hlt(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireKernel(cpu);
        cpu.Halted = true;
        cpu.BlockExitRequested = true;
    }

    private const ulong AlwaysWritable = Execution.LazyFlags.ArithmeticMask | TrapFlag | DirectionFlag | NestedTaskFlag
        | ResumeFlag | AlignmentCheckFlag | IdentificationFlag;

    /// <summary>
    /// IRET: real mode pops IP, CS, FLAGS; protected and IA-32e mode check the returned CS (RPL &gt;= CPL), pop SS:RSP
    /// in 64-bit mode always and otherwise on a return to an outer level, and null the data segments the outer level
    /// may not use. Task returns (NT = 1) and returns to virtual-8086 mode are not supported (#GP(0)).
    /// </summary>
    private static void Iret(CpuCore cpu, ref Instruction i)
    {
        int width = i.Code switch { Code.Iretq => 8, Code.Iretd => 4, _ => 2 };
        ulong oldFlags = cpu.Rflags;
        if (!cpu.ProtectedMode)
        {
            ulong ip = SystemStack.Read(cpu, 0, width);
            ushort selector = (ushort)SystemStack.Read(cpu, width, width);
            ulong flags = SystemStack.Read(cpu, 2 * width, width);
            SystemStack.Adjust(cpu, 3 * width);
            ulong writable = (AlwaysWritable | InterruptFlag | IoplMask) & Operands.Mask(width);
            cpu.Rflags = (oldFlags & ~writable) | (flags & writable);
            ref var realCs = ref cpu.Segments[Cs];
            realCs.Selector = selector;
            realCs.Base = (ulong)selector << 4;
            cpu.Rip = ip & Operands.Mask(width);
            AfterFlagsChange(cpu, oldFlags);
            return;
        }
        if ((oldFlags & (NestedTaskFlag | Virtual8086Flag)) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);

        ulong rip = SystemStack.Read(cpu, 0, width);
        ushort csSelector = (ushort)SystemStack.Read(cpu, width, width);
        ulong newFlags = SystemStack.Read(cpu, 2 * width, width);
        int oldCpl = cpu.Cpl, newCpl = csSelector & Segmentation.RequestedPrivilegeMask;
        var cs = Segmentation.CheckReturnTarget(cpu, csSelector);
        bool toLongCode = cpu.LongModeActive && cs.Long;
        bool popStack = cpu.SixtyFourBitMode || newCpl > oldCpl;
        ulong rsp = 0;
        SegmentCache ss = default;
        if (popStack)
        {
            rsp = SystemStack.Read(cpu, 3 * width, width);
            ushort ssSelector = (ushort)SystemStack.Read(cpu, 4 * width, width);
            ss = Segmentation.CheckStackSegment(cpu, ssSelector, newCpl, GuestFault.GeneralProtection, toLongCode);
        }
        if (toLongCode) { if (!Segmentation.IsCanonical(rip)) throw new GuestFault(GuestFault.GeneralProtection, 0); }
        else rip &= cs.DefaultBig ? 0xFFFF_FFFF : 0xFFFF;

        ulong changeable = AlwaysWritable;
        if (oldCpl == 0) changeable |= IoplMask | VirtualInterruptFlag | VirtualInterruptPendingFlag;
        if (oldCpl <= cpu.Iopl) changeable |= InterruptFlag;
        changeable &= Operands.Mask(width);
        cpu.Rflags = (oldFlags & ~changeable) | (newFlags & changeable);
        if (popStack)
        {
            cpu.Segments[Ss] = ss;
            cpu.Gpr[Rsp] = ss.DefaultBig || toLongCode || cpu.LongModeActive ? rsp : (cpu.Gpr[Rsp] & ~0xFFFFUL) | (rsp & 0xFFFF);
        }
        else SystemStack.Adjust(cpu, 3 * width);
        cpu.Segments[Cs] = cs;
        cpu.Rip = rip;
        cpu.Cpl = newCpl;
        if (newCpl > oldCpl) Segmentation.NullInaccessibleDataSegments(cpu);
        cpu.UpdateBitness();
        AfterFlagsChange(cpu, oldFlags);
    }

    /// <summary>IF going from 0 to 1 opens the interrupt window: the interpreter looks for a pending interrupt before the next instruction.</summary>
    public static void AfterFlagsChange(CpuCore cpu, ulong oldFlags)
    {
        if ((oldFlags & InterruptFlag) == 0 && (cpu.ControlFlags & InterruptFlag) != 0)
        {
            cpu.InterruptCheckRequested = true;
            cpu.BlockExitRequested = true;
        }
    }
}
