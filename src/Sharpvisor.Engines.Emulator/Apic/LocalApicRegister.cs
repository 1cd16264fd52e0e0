namespace Sharpvisor.Engines.Emulator.Apic;

/// <summary>
/// Offsets of the local APIC registers in the xAPIC MMIO page, which is also the layout of KVM's kvm_lapic_state (the
/// 1 KiB <see cref="Machine.Cpu.CpuState.LocalApic"/>). The x2APIC MSR of a register is 0x800 + offset / 16.
/// </summary>
public static class LocalApicRegister
{
    public const int Id = 0x020, Version = 0x030, TaskPriority = 0x080, ArbitrationPriority = 0x090,
        ProcessorPriority = 0x0A0, EndOfInterrupt = 0x0B0, RemoteRead = 0x0C0, LogicalDestination = 0x0D0,
        DestinationFormat = 0x0E0, SpuriousVector = 0x0F0, InService = 0x100, TriggerMode = 0x180, InterruptRequest = 0x200,
        ErrorStatus = 0x280, LvtCmci = 0x2F0, InterruptCommandLow = 0x300, InterruptCommandHigh = 0x310, LvtTimer = 0x320,
        LvtThermal = 0x330, LvtPerformanceCounter = 0x340, LvtLint0 = 0x350, LvtLint1 = 0x360, LvtError = 0x370,
        TimerInitialCount = 0x380, TimerCurrentCount = 0x390, TimerDivideConfiguration = 0x3E0, SelfIpi = 0x3F0;

    /// <summary>The size of the register page a snapshot carries (kvm_lapic_state).</summary>
    public const int PageSize = 0x400;
    /// <summary>The size of the MMIO window at IA32_APIC_BASE.</summary>
    public const int MmioSize = 0x1000;

    public const uint X2ApicMsrBase = 0x800, X2ApicMsrEnd = 0x8FF;
    public const uint ApicBaseMsr = 0x1B, TscDeadlineMsr = 0x6E0;
}
