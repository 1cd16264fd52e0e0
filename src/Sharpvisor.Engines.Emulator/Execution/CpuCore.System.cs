using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// System-mode state of the core (issue 4): event delivery switches, the interrupt shadow and halt state, the MSRs
/// the core owns, debug registers, and the rules that keep <see cref="Bitness"/> in step with CR0, EFER and CS.
/// </summary>
public sealed partial class CpuCore
{
    // RFLAGS bits the system code works with.
    public const ulong TrapFlag = 1 << 8, InterruptFlag = 1 << 9, IoplMask = 3 << 12, NestedTaskFlag = 1 << 14,
        ResumeFlag = 1 << 16, Virtual8086Flag = 1 << 17, AlignmentCheckFlag = 1 << 18, VirtualInterruptFlag = 1 << 19,
        VirtualInterruptPendingFlag = 1 << 20, IdentificationFlag = 1 << 21;

    public const ulong Cr0ProtectionEnable = 1, Cr0MonitorCoprocessor = 1 << 1, Cr0Emulation = 1 << 2, Cr0TaskSwitched = 1 << 3,
        Cr0ExtensionType = 1 << 4, Cr0NumericError = 1 << 5, Cr0WriteProtect = 1 << 16, Cr0AlignmentMask = 1 << 18,
        Cr0NotWriteThrough = 1 << 29, Cr0CacheDisable = 1 << 30, Cr0Paging = 1UL << 31;
    public const ulong Cr4Vme = 1 << 0, Cr4Pvi = 1 << 1, Cr4TimeStampDisable = 1 << 2, Cr4DebuggingExtensions = 1 << 3,
        Cr4Pse = 1 << 4, Cr4Pae = 1 << 5, Cr4MachineCheck = 1 << 6, Cr4Pge = 1 << 7, Cr4Pce = 1 << 8, Cr4OsFxsr = 1 << 9,
        Cr4OsXmmExcpt = 1 << 10, Cr4Umip = 1 << 11, Cr4La57 = 1 << 12, Cr4FsGsBase = 1 << 16, Cr4Pcide = 1 << 17,
        Cr4OsXsave = 1 << 18, Cr4Smep = 1 << 20, Cr4Smap = 1 << 21, Cr4Pke = 1 << 22;
    public const ulong EferSyscallEnable = 1, EferLongModeEnable = 1 << 8, EferLongModeActive = 1 << 10, EferNoExecuteEnable = 1 << 11;

    /// <summary>
    /// System mode: guest exceptions are delivered through the IDT (and a fault while delivering one escalates to
    /// #DF, then to a triple fault). Off, the interpreter stops with <see cref="StopReason.Fault"/> instead, which is
    /// what the hand tests and the differential oracle expect.
    /// </summary>
    public bool DeliverExceptions;

    /// <summary>The core executed HLT and waits for an interrupt; <see cref="Interpreter.Run"/> returns <see cref="StopReason.Halted"/> until one is delivered.</summary>
    public bool Halted;

    /// <summary>STI or MOV SS/POP SS just executed: no external interrupt before the next instruction completes.</summary>
    public bool InterruptShadow;

    /// <summary>Set by a handler that changed something the interpreter must look at before the next instruction (HLT, STI, a mode switch).</summary>
    public bool BlockExitRequested;

    // MSRs the core owns (see ModelSpecificRegisters for the indices and their rules).
    public ulong Star, Lstar, Cstar, SyscallFlagMask, KernelGsBase;
    public ulong SysenterCs, SysenterEsp, SysenterEip;
    /// <summary>IA32_PAT, reset value: WB, WT, UC-, UC repeated.</summary>
    public ulong Pat = 0x0007_0406_0007_0406;
    /// <summary>IA32_MISC_ENABLE: fast strings on; branch-trace and PEBS reported unavailable (bits 11, 12).</summary>
    public ulong MiscEnable = 0x1801;
    /// <summary>SPEC_CTRL (IBRS, STIBP, SSBD), reachable only when CPUID advertises one of them.</summary>
    public ulong SpeculationControl;
    /// <summary>Added to <see cref="TimeStampCounter"/>: a WRMSR to IA32_TSC sets it so the guest reads back what it wrote.</summary>
    public long TscOffset;

    /// <summary>Called once per MSR index that neither the core nor <see cref="MsrHandlers"/> knows (index, true for a write); the access raises #GP(0).</summary>
    public Action<uint, bool>? UnknownMsrAccessed;
    internal readonly HashSet<uint> ReportedUnknownMsrs = [];

    /// <summary>CR8 when no interrupt source is attached (with one, CR8 is its task priority's upper nibble).</summary>
    public byte TaskPriorityWithoutApic;

    /// <summary>DR0-DR3 (breakpoint addresses), DR6 (status) and DR7 (control). Stored only: breakpoints do not fire.</summary>
    public ulong Dr0, Dr1, Dr2, Dr3, Dr6 = 0xFFFF_0FF0, Dr7 = 0x400;

    /// <summary>The guest's time-stamp counter: the clock plus the offset a TSC write set.</summary>
    public ulong ReadTimeStampCounter() => TimeStampCounter() + (ulong)TscOffset;

    public bool ProtectedMode => (Cr0 & Cr0ProtectionEnable) != 0;
    public bool LongModeActive => (Efer & EferLongModeActive) != 0;
    /// <summary>IA-32e mode with a 64-bit code segment.</summary>
    public bool SixtyFourBitMode => Bitness == 64;
    public int Iopl => (int)((ControlFlags >> 12) & 3);
    public bool InterruptsEnabled => (ControlFlags & InterruptFlag) != 0;

    /// <summary>Recomputes <see cref="Bitness"/> from CR0.PE, EFER.LMA and the CS cache (L, D), after any of them changed.</summary>
    public void UpdateBitness()
    {
        ref var cs = ref Segments[Cs];
        int bitness;
        if (!ProtectedMode) bitness = 16;
        else if (LongModeActive && cs.Long) bitness = 64;
        else bitness = cs.DefaultBig ? 32 : 16;
        if (bitness != Bitness)
        {
            Bitness = bitness;
            BlockExitRequested = true; // the rest of the block was decoded for the old code size
        }
    }

    // What CPUID advertises decides which CR4 and EFER bits may be set and where CR3's reserved bits start; worked
    // out again whenever Cpuid is replaced (it is assigned as a whole array).
    private CpuidEntry[]? _featureSource;
    private ulong _allowedCr4, _allowedEfer, _physicalAddressMask;

    /// <summary>CR4 bits the advertised features allow (others raise #GP on MOV to CR4).</summary>
    public ulong AllowedCr4Bits { get { RefreshFeatures(); return _allowedCr4; } }
    /// <summary>EFER bits the advertised features allow to be written (LMA is read-only and not among them).</summary>
    public ulong AllowedEferBits { get { RefreshFeatures(); return _allowedEfer; } }
    /// <summary>Physical address bits below MAXPHYADDR (CPUID 8000_0008h EAX[7:0], 36 if not given).</summary>
    public ulong PhysicalAddressMask { get { RefreshFeatures(); return _physicalAddressMask; } }

    private void RefreshFeatures()
    {
        var table = Cpuid;
        if (ReferenceEquals(table, _featureSource)) return;
        uint ecx1 = 0, edx1 = 0, ebx7 = 0, ecx7 = 0, edx81 = 0, eax88 = 0;
        foreach (var e in table)
        {
            if (e.Function == 1) { ecx1 = e.Ecx; edx1 = e.Edx; }
            else if (e.Function == 7 && (!e.IndexSignificant || e.Index == 0)) { ebx7 = e.Ebx; ecx7 = e.Ecx; }
            else if (e.Function == 0x8000_0001) edx81 = e.Edx;
            else if (e.Function == 0x8000_0008) eax88 = e.Eax;
        }
        static ulong If(uint register, int bit, ulong cr4Bits) => ((register >> bit) & 1) != 0 ? cr4Bits : 0;
        _allowedCr4 = Cr4Pce | If(edx1, 1, Cr4Vme | Cr4Pvi) | If(edx1, 2, Cr4DebuggingExtensions) | If(edx1, 3, Cr4Pse)
            | If(edx1, 4, Cr4TimeStampDisable) | If(edx1, 6, Cr4Pae) | If(edx1, 7, Cr4MachineCheck) | If(edx1, 13, Cr4Pge)
            | If(edx1, 24, Cr4OsFxsr) | If(edx1, 25, Cr4OsXmmExcpt) | If(ecx1, 17, Cr4Pcide) | If(ecx1, 26, Cr4OsXsave)
            | If(ebx7, 0, Cr4FsGsBase) | If(ebx7, 7, Cr4Smep) | If(ebx7, 20, Cr4Smap) | If(ecx7, 2, Cr4Umip)
            | If(ecx7, 3, Cr4Pke) | If(ecx7, 16, Cr4La57);
        _allowedEfer = If(edx81, 11, EferSyscallEnable) | If(edx81, 29, EferLongModeEnable) | If(edx81, 20, EferNoExecuteEnable);
        int maxPhysical = (int)(eax88 & 0xFF);
        if (maxPhysical < 32 || maxPhysical > 52) maxPhysical = 36;
        _physicalAddressMask = (1UL << maxPhysical) - 1;
        _featureSource = table;
    }

    /// <summary>Reports an unknown MSR through <see cref="UnknownMsrAccessed"/>, once per index.</summary>
    internal void NoteUnknownMsr(uint index, bool write)
    {
        if (UnknownMsrAccessed is { } report && ReportedUnknownMsrs.Add(index)) report(index, write);
    }
}
