namespace Sharpvisor.Machine.Cpu;

/// <summary>
/// The whole architectural state of one vCPU, engine-neutral: what both engines get and set, and what snapshots and
/// migration carry. Plain data; <see cref="Version"/> changes whenever the meaning of a field does.
/// </summary>
public sealed record CpuState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public GeneralRegisters Registers { get; init; } = new();

    public SegmentRegister Cs { get; init; } = SegmentRegister.RealMode(0, code: true);
    public SegmentRegister Ds { get; init; } = SegmentRegister.RealMode(0, code: false);
    public SegmentRegister Es { get; init; } = SegmentRegister.RealMode(0, code: false);
    public SegmentRegister Fs { get; init; } = SegmentRegister.RealMode(0, code: false);
    public SegmentRegister Gs { get; init; } = SegmentRegister.RealMode(0, code: false);
    public SegmentRegister Ss { get; init; } = SegmentRegister.RealMode(0, code: false);
    public SegmentRegister Tr { get; init; } = new() { Type = 0xB, Limit = 0xFFFF, Present = true };
    public SegmentRegister Ldt { get; init; } = SegmentRegister.NullLdt();
    public DescriptorTable Gdt { get; init; } = new(0, 0xFFFF);
    public DescriptorTable Idt { get; init; } = new(0, 0xFFFF);

    public ulong Cr0 { get; init; } = 0x6000_0010;
    public ulong Cr2 { get; init; }
    public ulong Cr3 { get; init; }
    public ulong Cr4 { get; init; }
    public ulong Cr8 { get; init; }
    public ulong Efer { get; init; }
    public ulong ApicBase { get; init; } = 0xFEE0_0900;

    /// <summary>MSRs beyond those with their own field (EFER and APIC_BASE), sorted by index.</summary>
    public ModelSpecificRegister[] Msrs { get; init; } = [];
    public FpuState Fpu { get; init; } = new();
    public PendingEvents Events { get; init; } = new();
    /// <summary>The local APIC's 1 KiB register page (KVM's kvm_lapic_state layout), or null if not captured.</summary>
    public byte[]? LocalApic { get; init; }
    public VcpuRunState RunState { get; init; } = VcpuRunState.Runnable;

    public const ulong Cr0ProtectionEnable = 1, Cr0ExtensionType = 1 << 4, Cr0NumericError = 1 << 5,
        Cr0WriteProtect = 1 << 16, Cr0Paging = 1UL << 31;
    public const ulong Cr4Pae = 1 << 5, Cr4OsFxsr = 1 << 9, Cr4OsXmmExcpt = 1 << 10;
    public const ulong EferSyscall = 1, EferLongModeEnable = 1 << 8, EferLongModeActive = 1 << 10, EferNoExecute = 1 << 11;
}
