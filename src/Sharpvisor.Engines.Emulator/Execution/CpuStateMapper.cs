using Sharpvisor.Engines.Emulator.Instructions.SystemMode;
using Sharpvisor.Engines.Emulator.Instructions.X87;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// Moves a core's state to and from the engine-neutral <see cref="CpuState"/>, the record the KVM engine fills from
/// its ioctls: registers, segments (the VMX access-rights layout both share), control registers, descriptor tables,
/// EFER, the MSRs the core owns, the interrupt shadow, the halted state and the FPU state (SSE here, the x87 part
/// through <see cref="X87StateMapper"/>). Not covered here: the debug registers (the record has no field for them),
/// the local APIC page (the APIC's own state), and the INIT/SIPI wait states of an application processor, which the vCPU around the core
/// keeps (<see cref="ToCpuState"/> reports Runnable or Halted only). CPL is taken from SS.DPL, as VMX does.
/// </summary>
public static class CpuStateMapper
{
    private const uint ApicBaseMsr = 0x1B;

    public static CpuState ToCpuState(CpuCore cpu)
    {
        var msrs = new List<ModelSpecificRegister>(ModelSpecificRegisters.CoreOwned.Length);
        foreach (uint index in ModelSpecificRegisters.CoreOwned) msrs.Add(new ModelSpecificRegister(index, ModelSpecificRegisters.Read(cpu, index)));
        // MSRs the core's handlers hold that a snapshot must carry: an armed TSC-deadline timer (without it a restored
        // kernel's clock events never fire) and the kvm-clock areas. Applied after the local APIC page (EmulatorVcpu).
        foreach (uint index in HandlerOwnedSaved)
            foreach (var handler in cpu.MsrHandlers)
                if (handler.TryRead(index, out ulong handled))
                {
                    // Zero is each one's reset value (disarmed, never set): writing it back would do something (the
                    // wall-clock MSR writes its record at the address it names), so it is left out.
                    if (handled != 0) msrs.Add(new ModelSpecificRegister(index, handled));
                    break;
                }
        msrs.Sort((a, b) => a.Index.CompareTo(b.Index)); // CpuState keeps them sorted: IA32_TSC before the deadline
        ulong apicBase = new CpuState().ApicBase;
        foreach (var handler in cpu.MsrHandlers)
            if (handler.TryRead(ApicBaseMsr, out ulong value)) { apicBase = value; break; }

        var xmm = new byte[256];
        for (int n = 0; n < 16; n++)
        {
            BitConverter.TryWriteBytes(xmm.AsSpan(n * 16), cpu.Xmm[n].Low);
            BitConverter.TryWriteBytes(xmm.AsSpan(n * 16 + 8), cpu.Xmm[n].High);
        }

        return new CpuState
        {
            Registers = new GeneralRegisters
            {
                Rax = cpu.Gpr[0], Rcx = cpu.Gpr[1], Rdx = cpu.Gpr[2], Rbx = cpu.Gpr[3], Rsp = cpu.Gpr[4], Rbp = cpu.Gpr[5],
                Rsi = cpu.Gpr[6], Rdi = cpu.Gpr[7], R8 = cpu.Gpr[8], R9 = cpu.Gpr[9], R10 = cpu.Gpr[10], R11 = cpu.Gpr[11],
                R12 = cpu.Gpr[12], R13 = cpu.Gpr[13], R14 = cpu.Gpr[14], R15 = cpu.Gpr[15], Rip = cpu.Rip, Rflags = cpu.Rflags,
            },
            Es = ToRecord(cpu.Segments[CpuCore.Es]), Cs = ToRecord(cpu.Segments[CpuCore.Cs]), Ss = ToRecord(cpu.Segments[CpuCore.Ss]),
            Ds = ToRecord(cpu.Segments[CpuCore.Ds]), Fs = ToRecord(cpu.Segments[CpuCore.Fs]), Gs = ToRecord(cpu.Segments[CpuCore.Gs]),
            Tr = ToRecord(cpu.Tr), Ldt = ToRecord(cpu.Ldtr),
            Gdt = new DescriptorTable(cpu.GdtBase, cpu.GdtLimit),
            Idt = new DescriptorTable(cpu.IdtBase, cpu.IdtLimit),
            Cr0 = cpu.Cr0, Cr2 = cpu.Cr2, Cr3 = cpu.Cr3, Cr4 = cpu.Cr4, Cr8 = ControlRegisters.ReadCr8(cpu),
            Efer = cpu.Efer, ApicBase = apicBase,
            Msrs = msrs.ToArray(),
            Fpu = X87StateMapper.FromCore(cpu, new FpuState { Mxcsr = cpu.Mxcsr, XmmRegisters = xmm }),
            Events = new PendingEvents { InterruptShadow = cpu.InterruptShadow ? (byte)1 : (byte)0 },
            RunState = cpu.Halted ? VcpuRunState.Halted : VcpuRunState.Runnable,
        };
    }

    /// <summary>IA32_TSC_DEADLINE and KVM's wall-clock and system-time MSRs.</summary>
    private static readonly uint[] HandlerOwnedSaved = [0x6E0, 0x4B56_4D00, 0x4B56_4D01];

    /// <summary>
    /// Loads <paramref name="state"/> into the core. MSRs the core does not own go to <see cref="CpuCore.MsrHandlers"/>,
    /// and are skipped if none takes them (a KVM snapshot lists MSRs this CPU model does not have). An exception or
    /// interrupt the state holds as injected but not yet delivered is delivered through the IDT now.
    /// </summary>
    public static void Apply(CpuCore cpu, CpuState state)
    {
        if (state.Version != CpuState.CurrentVersion)
            throw new ArgumentException($"CPU state version {state.Version} is not the supported version {CpuState.CurrentVersion}", nameof(state));
        var r = state.Registers;
        cpu.Gpr[0] = r.Rax; cpu.Gpr[1] = r.Rcx; cpu.Gpr[2] = r.Rdx; cpu.Gpr[3] = r.Rbx;
        cpu.Gpr[4] = r.Rsp; cpu.Gpr[5] = r.Rbp; cpu.Gpr[6] = r.Rsi; cpu.Gpr[7] = r.Rdi;
        cpu.Gpr[8] = r.R8; cpu.Gpr[9] = r.R9; cpu.Gpr[10] = r.R10; cpu.Gpr[11] = r.R11;
        cpu.Gpr[12] = r.R12; cpu.Gpr[13] = r.R13; cpu.Gpr[14] = r.R14; cpu.Gpr[15] = r.R15;
        cpu.Rip = r.Rip;
        cpu.Rflags = r.Rflags;

        cpu.Segments[CpuCore.Es] = FromRecord(state.Es);
        cpu.Segments[CpuCore.Cs] = FromRecord(state.Cs);
        cpu.Segments[CpuCore.Ss] = FromRecord(state.Ss);
        cpu.Segments[CpuCore.Ds] = FromRecord(state.Ds);
        cpu.Segments[CpuCore.Fs] = FromRecord(state.Fs);
        cpu.Segments[CpuCore.Gs] = FromRecord(state.Gs);
        cpu.Tr = FromRecord(state.Tr);
        cpu.Ldtr = FromRecord(state.Ldt);
        (cpu.GdtBase, cpu.GdtLimit) = (state.Gdt.Base, state.Gdt.Limit);
        (cpu.IdtBase, cpu.IdtLimit) = (state.Idt.Base, state.Idt.Limit);

        cpu.Cr0 = state.Cr0;
        cpu.Cr2 = state.Cr2;
        cpu.Cr3 = state.Cr3;
        cpu.Cr4 = state.Cr4;
        cpu.Efer = state.Efer;
        byte cr8 = (byte)(state.Cr8 & 0xF);
        if (cpu.Interrupts is { } apic) { if (apic.TaskPriority >> 4 != cr8) apic.TaskPriority = (byte)(cr8 << 4); }
        else cpu.TaskPriorityWithoutApic = (byte)(cr8 << 4);
        foreach (var handler in cpu.MsrHandlers)
            if (handler.TryWrite(ApicBaseMsr, state.ApicBase)) break;

        foreach (var msr in state.Msrs)
        {
            if (Array.IndexOf(ModelSpecificRegisters.CoreOwned, msr.Index) >= 0) StoreCoreMsr(cpu, msr);
            else foreach (var handler in cpu.MsrHandlers)
                    if (handler.TryWrite(msr.Index, msr.Value)) break;
        }

        X87StateMapper.ToCore(state.Fpu, cpu);
        cpu.Mxcsr = state.Fpu.Mxcsr;
        var xmm = state.Fpu.XmmRegisters;
        for (int n = 0; n < 16 && n * 16 + 16 <= xmm.Length; n++)
        {
            cpu.Xmm[n].Low = BitConverter.ToUInt64(xmm, n * 16);
            cpu.Xmm[n].High = BitConverter.ToUInt64(xmm, n * 16 + 8);
        }

        cpu.Cpl = (cpu.Cr0 & CpuCore.Cr0ProtectionEnable) == 0 ? 0 : (cpu.ControlFlags & CpuCore.Virtual8086Flag) != 0 ? 3 : cpu.Segments[CpuCore.Ss].Dpl;
        cpu.UpdateBitness();
        cpu.BlockExitRequested = false;
        cpu.InterruptShadow = state.Events.InterruptShadow != 0;
        cpu.Halted = state.RunState == VcpuRunState.Halted;
        cpu.Memory.Translator.Flush(includeGlobal: true);
        cpu.InterruptCheckRequested = true;

        var e = state.Events;
        if (e.ExceptionInjected)
            EventDelivery.Deliver(cpu, e.ExceptionVector, e.ExceptionHasErrorCode ? e.ExceptionErrorCode : null, EventSource.Exception);
        else if (e.InterruptInjected)
            EventDelivery.Deliver(cpu, e.InterruptVector, null, e.InterruptSoft ? EventSource.SoftwareInterrupt : EventSource.External);
        cpu.BlockExitRequested = false;
    }

    /// <summary>Core MSRs are restored as stored, without WRMSR's checks (the state came from a CPU that accepted them).</summary>
    private static void StoreCoreMsr(CpuCore cpu, ModelSpecificRegister msr)
    {
        ulong v = msr.Value;
        switch (msr.Index)
        {
            case ModelSpecificRegisters.Tsc: cpu.TscOffset = (long)(v - cpu.TimeStampCounter()); break;
            case ModelSpecificRegisters.SysenterCs: cpu.SysenterCs = v; break;
            case ModelSpecificRegisters.SysenterEsp: cpu.SysenterEsp = v; break;
            case ModelSpecificRegisters.SysenterEip: cpu.SysenterEip = v; break;
            case ModelSpecificRegisters.MiscEnable: cpu.MiscEnable = v; break;
            case ModelSpecificRegisters.Pat: cpu.Pat = v; break;
            case ModelSpecificRegisters.Star: cpu.Star = v; break;
            case ModelSpecificRegisters.Lstar: cpu.Lstar = v; break;
            case ModelSpecificRegisters.Cstar: cpu.Cstar = v; break;
            case ModelSpecificRegisters.SyscallFlagMask: cpu.SyscallFlagMask = v; break;
            case ModelSpecificRegisters.FsBase: cpu.FsBase = v; break;
            case ModelSpecificRegisters.GsBase: cpu.GsBase = v; break;
            case ModelSpecificRegisters.KernelGsBase: cpu.KernelGsBase = v; break;
            case ModelSpecificRegisters.TscAux: cpu.TscAux = (uint)v; break;
        }
    }

    public static SegmentRegister ToRecord(in SegmentCache s) => new()
    {
        Selector = s.Selector, Base = s.Base, Limit = s.Limit, Type = (byte)s.Type, Dpl = (byte)s.Dpl, Present = s.Present,
        CodeOrData = (s.Attributes & SegmentCache.CodeOrDataBit) != 0, Available = (s.Attributes & SegmentCache.AvailableBit) != 0,
        Long = s.Long, DefaultBig = s.DefaultBig, Granularity = (s.Attributes & SegmentCache.GranularityBit) != 0,
        Unusable = (s.Attributes & SegmentCache.UnusableBit) != 0,
    };

    public static SegmentCache FromRecord(SegmentRegister s) => new()
    {
        Selector = s.Selector, Base = s.Base, Limit = s.Limit,
        Attributes = (uint)(s.Type & 0xF) | (s.CodeOrData ? SegmentCache.CodeOrDataBit : 0) | ((uint)(s.Dpl & 3) << 5)
            | (s.Present ? SegmentCache.PresentBit : 0) | (s.Available ? SegmentCache.AvailableBit : 0) | (s.Long ? SegmentCache.LongBit : 0)
            | (s.DefaultBig ? SegmentCache.DefaultBigBit : 0) | (s.Granularity ? SegmentCache.GranularityBit : 0)
            | (s.Unusable ? SegmentCache.UnusableBit : 0),
    };
}
