namespace Sharpvisor.Engines.Emulator.Apic;

/// <summary>
/// What a <see cref="LocalApic"/> holds beyond its register page: the APIC_BASE and TSC-deadline MSRs and the events
/// waiting for the vCPU loop. In the engine-neutral <see cref="Machine.Cpu.CpuState"/> they map to ApicBase, the MSR
/// list (IA32_TSC_DEADLINE, 0x6E0), Events.NmiPending, Events.SipiVector and RunState.
/// </summary>
public sealed record LocalApicControlState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public ulong ApicBase { get; init; }
    /// <summary>IA32_TSC_DEADLINE: the armed deadline in guest TSC ticks, 0 when disarmed.</summary>
    public ulong TscDeadline { get; init; }
    public bool NmiPending { get; init; }
    public bool InitPending { get; init; }
    /// <summary>The vector of a start-up IPI not yet taken, or -1.</summary>
    public int StartupVector { get; init; } = -1;
    /// <summary>INIT was taken and the processor waits for a start-up IPI.</summary>
    public bool WaitingForStartup { get; init; }
}
