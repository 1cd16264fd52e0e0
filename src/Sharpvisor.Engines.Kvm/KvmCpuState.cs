using Sharpvisor.Engines.Kvm.Native;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Kvm;

/// <summary>Moves a vCPU's state between KVM's structures and the engine-neutral <see cref="CpuState"/>.</summary>
internal static class KvmCpuState
{
    public static unsafe CpuState Read(FileDescriptorHandle vcpu, KvmVirtualMachine vm)
    {
        KvmRegs regs;
        KvmSregs sregs;
        KvmFpu fpu;
        KvmVcpuEvents events;
        KvmLapicState lapic;
        uint mpState;
        KvmCalls.Ioctl(vcpu, KvmIoctls.GetRegs, &regs, "GET_REGS");
        KvmCalls.Ioctl(vcpu, KvmIoctls.GetSregs, &sregs, "GET_SREGS");
        KvmCalls.Ioctl(vcpu, KvmIoctls.GetFpu, &fpu, "GET_FPU");
        KvmCalls.Ioctl(vcpu, KvmIoctls.GetVcpuEvents, &events, "GET_VCPU_EVENTS");
        KvmCalls.Ioctl(vcpu, KvmIoctls.GetLapic, &lapic, "GET_LAPIC");
        KvmCalls.Ioctl(vcpu, KvmIoctls.GetMpState, &mpState, "GET_MP_STATE");

        byte[]? xsave = null;
        if (vm.HasXsave)
        {
            var area = new KvmXsave();
            KvmCalls.Ioctl(vcpu, KvmIoctls.GetXsave, &area, "GET_XSAVE");
            xsave = new Span<byte>(area.Region, 4096).ToArray();
        }
        ulong xcr0 = 0x3;
        if (vm.HasXcrs)
        {
            var xcrs = new KvmXcrs();
            KvmCalls.Ioctl(vcpu, KvmIoctls.GetXcrs, &xcrs, "GET_XCRS");
            if (xcrs.NrXcrs > 0 && xcrs.Xcr0.Xcr == 0) xcr0 = xcrs.Xcr0.Value;
        }

        return new CpuState
        {
            Registers = new GeneralRegisters
            {
                Rax = regs.Rax, Rbx = regs.Rbx, Rcx = regs.Rcx, Rdx = regs.Rdx, Rsi = regs.Rsi, Rdi = regs.Rdi,
                Rsp = regs.Rsp, Rbp = regs.Rbp, R8 = regs.R8, R9 = regs.R9, R10 = regs.R10, R11 = regs.R11,
                R12 = regs.R12, R13 = regs.R13, R14 = regs.R14, R15 = regs.R15, Rip = regs.Rip, Rflags = regs.Rflags,
            },
            Cs = FromKvm(sregs.Cs), Ds = FromKvm(sregs.Ds), Es = FromKvm(sregs.Es), Fs = FromKvm(sregs.Fs),
            Gs = FromKvm(sregs.Gs), Ss = FromKvm(sregs.Ss), Tr = FromKvm(sregs.Tr), Ldt = FromKvm(sregs.Ldt),
            Gdt = new DescriptorTable(sregs.Gdt.Base, sregs.Gdt.Limit),
            Idt = new DescriptorTable(sregs.Idt.Base, sregs.Idt.Limit),
            Cr0 = sregs.Cr0, Cr2 = sregs.Cr2, Cr3 = sregs.Cr3, Cr4 = sregs.Cr4, Cr8 = sregs.Cr8,
            Efer = sregs.Efer, ApicBase = sregs.ApicBase,
            Msrs = ReadMsrs(vcpu, vm.SavedMsrIndices),
            Fpu = new FpuState
            {
                ControlWord = fpu.Fcw, StatusWord = fpu.Fsw, AbridgedTagWord = fpu.Ftwx, LastOpcode = fpu.LastOpcode,
                LastInstructionPointer = fpu.LastIp, LastDataPointer = fpu.LastDp, Mxcsr = fpu.Mxcsr,
                X87Registers = new Span<byte>(fpu.Fpr, 128).ToArray(),
                XmmRegisters = new Span<byte>(fpu.Xmm, 256).ToArray(),
                Xcr0 = xcr0,
                XsaveArea = xsave,
            },
            Events = new PendingEvents
            {
                ExceptionInjected = events.ExceptionInjected != 0, ExceptionVector = events.ExceptionNr,
                ExceptionHasErrorCode = events.ExceptionHasErrorCode != 0, ExceptionErrorCode = events.ExceptionErrorCode,
                InterruptInjected = events.InterruptInjected != 0, InterruptVector = events.InterruptNr,
                InterruptSoft = events.InterruptSoft != 0, InterruptShadow = events.InterruptShadow,
                NmiInjected = events.NmiInjected != 0, NmiPending = events.NmiPending != 0, NmiMasked = events.NmiMasked != 0,
                SipiVector = events.SipiVector, SmiPending = events.SmiPending != 0, InSmm = events.SmiSmm != 0,
            },
            LocalApic = new Span<byte>(lapic.Regs, 1024).ToArray(),
            RunState = FromKvmMpState(mpState),
        };
    }

    public static unsafe void Write(FileDescriptorHandle vcpu, KvmVirtualMachine vm, CpuState state)
    {
        if (state.Version != CpuState.CurrentVersion)
            throw new EngineException($"CPU state version {state.Version} is not the supported version {CpuState.CurrentVersion}");

        var sregs = new KvmSregs
        {
            Cs = ToKvm(state.Cs), Ds = ToKvm(state.Ds), Es = ToKvm(state.Es), Fs = ToKvm(state.Fs),
            Gs = ToKvm(state.Gs), Ss = ToKvm(state.Ss), Tr = ToKvm(state.Tr), Ldt = ToKvm(state.Ldt),
            Gdt = new KvmDtable { Base = state.Gdt.Base, Limit = state.Gdt.Limit },
            Idt = new KvmDtable { Base = state.Idt.Base, Limit = state.Idt.Limit },
            Cr0 = state.Cr0, Cr2 = state.Cr2, Cr3 = state.Cr3, Cr4 = state.Cr4, Cr8 = state.Cr8,
            Efer = state.Efer, ApicBase = state.ApicBase,
        };
        KvmCalls.Ioctl(vcpu, KvmIoctls.SetSregs, &sregs, "SET_SREGS");

        var r = state.Registers;
        var regs = new KvmRegs
        {
            Rax = r.Rax, Rbx = r.Rbx, Rcx = r.Rcx, Rdx = r.Rdx, Rsi = r.Rsi, Rdi = r.Rdi, Rsp = r.Rsp, Rbp = r.Rbp,
            R8 = r.R8, R9 = r.R9, R10 = r.R10, R11 = r.R11, R12 = r.R12, R13 = r.R13, R14 = r.R14, R15 = r.R15,
            Rip = r.Rip, Rflags = r.Rflags,
        };
        KvmCalls.Ioctl(vcpu, KvmIoctls.SetRegs, &regs, "SET_REGS");

        var f = state.Fpu;
        if (f.XsaveArea is { Length: 4096 } && vm.HasXsave)
        {
            var area = new KvmXsave();
            f.XsaveArea.CopyTo(new Span<byte>(area.Region, 4096));
            KvmCalls.Ioctl(vcpu, KvmIoctls.SetXsave, &area, "SET_XSAVE");
        }
        else
        {
            var fpu = new KvmFpu
            {
                Fcw = f.ControlWord, Fsw = f.StatusWord, Ftwx = f.AbridgedTagWord, LastOpcode = f.LastOpcode,
                LastIp = f.LastInstructionPointer, LastDp = f.LastDataPointer, Mxcsr = f.Mxcsr,
            };
            f.X87Registers.AsSpan(0, Math.Min(128, f.X87Registers.Length)).CopyTo(new Span<byte>(fpu.Fpr, 128));
            f.XmmRegisters.AsSpan(0, Math.Min(256, f.XmmRegisters.Length)).CopyTo(new Span<byte>(fpu.Xmm, 256));
            KvmCalls.Ioctl(vcpu, KvmIoctls.SetFpu, &fpu, "SET_FPU");
        }
        if (vm.HasXcrs)
        {
            var xcrs = new KvmXcrs { NrXcrs = 1 };
            xcrs.Xcr0 = new KvmXcr { Xcr = 0, Value = f.Xcr0 };
            KvmCalls.Ioctl(vcpu, KvmIoctls.SetXcrs, &xcrs, "SET_XCRS");
        }

        WriteMsrs(vcpu, state.Msrs);

        var e = state.Events;
        var events = new KvmVcpuEvents
        {
            ExceptionInjected = B(e.ExceptionInjected), ExceptionNr = e.ExceptionVector,
            ExceptionHasErrorCode = B(e.ExceptionHasErrorCode), ExceptionErrorCode = e.ExceptionErrorCode,
            InterruptInjected = B(e.InterruptInjected), InterruptNr = e.InterruptVector, InterruptSoft = B(e.InterruptSoft),
            InterruptShadow = e.InterruptShadow, NmiInjected = B(e.NmiInjected), NmiPending = B(e.NmiPending),
            NmiMasked = B(e.NmiMasked), SipiVector = e.SipiVector,
            Flags = KvmVcpuEvents.ValidNmiPending | KvmVcpuEvents.ValidSipiVector | KvmVcpuEvents.ValidShadow,
        };
        KvmCalls.Ioctl(vcpu, KvmIoctls.SetVcpuEvents, &events, "SET_VCPU_EVENTS");

        if (state.LocalApic is { Length: 1024 })
        {
            var lapic = new KvmLapicState();
            state.LocalApic.CopyTo(new Span<byte>(lapic.Regs, 1024));
            KvmCalls.Ioctl(vcpu, KvmIoctls.SetLapic, &lapic, "SET_LAPIC");
        }

        uint mp = ToKvmMpState(state.RunState);
        KvmCalls.Ioctl(vcpu, KvmIoctls.SetMpState, &mp, "SET_MP_STATE");
    }

    private static unsafe ModelSpecificRegister[] ReadMsrs(FileDescriptorHandle vcpu, IReadOnlyList<uint> indices)
    {
        if (indices.Count == 0) return [];
        int bytes = 8 + indices.Count * sizeof(KvmMsrEntry);
        byte* buffer = stackalloc byte[bytes];
        new Span<byte>(buffer, bytes).Clear();
        *(uint*)buffer = (uint)indices.Count;
        var entries = (KvmMsrEntry*)(buffer + 8);
        for (int i = 0; i < indices.Count; i++) entries[i].Index = indices[i];
        int read = KvmCalls.Ioctl(vcpu, KvmIoctls.GetMsrs, buffer, "GET_MSRS");
        var result = new ModelSpecificRegister[read];
        for (int i = 0; i < read; i++) result[i] = new ModelSpecificRegister(entries[i].Index, entries[i].Data);
        return result;
    }

    private static unsafe void WriteMsrs(FileDescriptorHandle vcpu, ModelSpecificRegister[] msrs)
    {
        if (msrs.Length == 0) return;
        int bytes = 8 + msrs.Length * sizeof(KvmMsrEntry);
        byte* buffer = stackalloc byte[bytes];
        new Span<byte>(buffer, bytes).Clear();
        *(uint*)buffer = (uint)msrs.Length;
        var entries = (KvmMsrEntry*)(buffer + 8);
        for (int i = 0; i < msrs.Length; i++) entries[i] = new KvmMsrEntry { Index = msrs[i].Index, Data = msrs[i].Value };
        int written = KvmCalls.Ioctl(vcpu, KvmIoctls.SetMsrs, buffer, "SET_MSRS");
        if (written != msrs.Length)
            throw new EngineException($"KVM SET_MSRS stopped at MSR 0x{msrs[written].Index:x} ({written} of {msrs.Length} written)");
    }

    private static SegmentRegister FromKvm(in KvmSegment s) => new()
    {
        Selector = s.Selector, Base = s.Base, Limit = s.Limit, Type = s.Type, Present = s.Present != 0, Dpl = s.Dpl,
        DefaultBig = s.Db != 0, CodeOrData = s.S != 0, Long = s.L != 0, Granularity = s.G != 0,
        Available = s.Avl != 0, Unusable = s.Unusable != 0,
    };

    private static KvmSegment ToKvm(SegmentRegister s) => new()
    {
        Selector = s.Selector, Base = s.Base, Limit = s.Limit, Type = s.Type, Present = B(s.Present), Dpl = s.Dpl,
        Db = B(s.DefaultBig), S = B(s.CodeOrData), L = B(s.Long), G = B(s.Granularity), Avl = B(s.Available),
        Unusable = B(s.Unusable),
    };

    // KVM_MP_STATE_*: RUNNABLE 0, UNINITIALIZED 1, INIT_RECEIVED 2, HALTED 3, SIPI_RECEIVED 4.
    private static VcpuRunState FromKvmMpState(uint mp) => mp switch
    {
        1 => VcpuRunState.WaitingForSipi, 2 => VcpuRunState.InitReceived, 3 => VcpuRunState.Halted,
        4 => VcpuRunState.SipiReceived, _ => VcpuRunState.Runnable,
    };

    private static uint ToKvmMpState(VcpuRunState s) => s switch
    {
        VcpuRunState.WaitingForSipi => 1, VcpuRunState.InitReceived => 2, VcpuRunState.Halted => 3,
        VcpuRunState.SipiReceived => 4, _ => 0,
    };

    private static byte B(bool value) => value ? (byte)1 : (byte)0;
}
