using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.CpuCore;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// SYSCALL, SYSRET and SWAPGS, as Intel defines them: valid in 64-bit mode only (#UD elsewhere; AMD's legacy-mode
/// SYSCALL through CSTAR is not provided), with EFER.SCE required. CS and SS are loaded with fixed flat descriptors
/// from the selectors in STAR, not from the GDT.
/// </summary>
public static class SystemCalls
{
    public static unsafe void Register(InstructionTable table)
    {
        table.Set(Code.Syscall, &Syscall);
        table.Set(Code.Sysretd, &Sysret);
        table.Set(Code.Sysretq, &Sysret);
        table.Set(Code.Swapgs, &Swapgs);
    }

    // Flat segments in the VMX access-rights layout: type, S, DPL, P, L or D/B, G.
    private const uint KernelCode64 = 0xA09B, KernelData = 0xC093, UserCode64 = 0xA0FB, UserCode32 = 0xC0FB, UserData = 0xC0F3;

    private static SegmentCache Flat(ushort selector, uint attributes) =>
        new() { Selector = selector, Base = 0, Limit = 0xFFFF_FFFF, Attributes = attributes };

    private static void Syscall(CpuCore cpu, ref Instruction i)
    {
        if (!cpu.SixtyFourBitMode || (cpu.Efer & EferSyscallEnable) == 0) throw new GuestFault(GuestFault.InvalidOpcode);
        ushort selector = (ushort)(cpu.Star >> 32);
        cpu.Gpr[Rcx] = cpu.Rip;
        cpu.Gpr[11] = cpu.Rflags & ~ResumeFlag;
        cpu.Segments[Cs] = Flat((ushort)(selector & 0xFFFC), KernelCode64);
        cpu.Segments[Ss] = Flat((ushort)((selector + 8) & 0xFFFC), KernelData);
        cpu.Rflags &= ~(cpu.SyscallFlagMask | ResumeFlag);
        cpu.Rip = cpu.Lstar;
        cpu.Cpl = 0;
        cpu.UpdateBitness();
    }

    /// <summary>SYSRET to 64-bit code (REX.W: CS = STAR[63:48] + 16) or compatibility mode (CS = STAR[63:48]); SS = STAR[63:48] + 8; RFLAGS from R11.</summary>
    private static void Sysret(CpuCore cpu, ref Instruction i)
    {
        if (!cpu.SixtyFourBitMode || (cpu.Efer & EferSyscallEnable) == 0) throw new GuestFault(GuestFault.InvalidOpcode);
        Privilege.RequireKernel(cpu);
        ushort selector = (ushort)(cpu.Star >> 48);
        ulong target = cpu.Gpr[Rcx];
        bool toLongMode = i.Code == Code.Sysretq;
        if (toLongMode && !Segmentation.IsCanonical(target)) throw new GuestFault(GuestFault.GeneralProtection, 0);
        ulong oldFlags = cpu.Rflags;
        cpu.Segments[Cs] = toLongMode ? Flat((ushort)((selector + 16) | 3), UserCode64) : Flat((ushort)(selector | 3), UserCode32);
        cpu.Segments[Ss] = Flat((ushort)((selector + 8) | 3), UserData);
        cpu.Rflags = (cpu.Gpr[11] & 0x3C_7FD7) | 0x2; // RF and VM cleared, reserved bits fixed
        cpu.Rip = toLongMode ? target : (uint)target;
        cpu.Cpl = 3;
        cpu.UpdateBitness();
        InterruptInstructions.AfterFlagsChange(cpu, oldFlags);
    }

    private static void Swapgs(CpuCore cpu, ref Instruction i)
    {
        if (!cpu.SixtyFourBitMode) throw new GuestFault(GuestFault.InvalidOpcode);
        Privilege.RequireKernel(cpu);
        (cpu.GsBase, cpu.KernelGsBase) = (cpu.KernelGsBase, cpu.GsBase);
    }
}
