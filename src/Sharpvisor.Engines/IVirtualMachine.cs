using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Interrupts;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines;

/// <summary>The engine's side of one VM: its vCPUs, its interrupt controllers, and the dirty log of its memory.</summary>
public interface IVirtualMachine : IInterruptController, IDisposable
{
    /// <summary>What the engine can offer a guest, before topology and policy shape it per vCPU.</summary>
    IReadOnlyList<CpuidEntry> SupportedCpuid { get; }

    /// <summary>Creates vCPU <paramref name="index"/> (its APIC ID is <paramref name="apicId"/>) with this CPUID table.</summary>
    IVcpu CreateVcpu(int index, uint apicId, IReadOnlyList<CpuidEntry> cpuid);

    /// <summary>Starts or stops recording which pages the guest writes.</summary>
    void SetDirtyLogging(bool enabled);

    /// <summary>ORs the pages written in <paramref name="region"/> since the last call into <paramref name="into"/> and resets the log.</summary>
    void CollectDirtyPages(GuestMemoryRegion region, DirtyPageBitmap into);

    /// <summary>
    /// Stops the guest's clock (kvm-clock, and the emulator's TSC): time until <see cref="ResumeClock"/> does not pass
    /// for the guest, as with QEMU's default on pause. Call with every vCPU out of <see cref="IVcpu.Run"/>.
    /// </summary>
    void PauseClock();

    /// <summary>Lets the guest's clock run again from where it stopped.</summary>
    void ResumeClock();

    /// <summary>The guest's clock in nanoseconds (its kvm-clock system time), for snapshots and migration.</summary>
    ulong ReadClock();

    /// <summary>Sets the guest's clock to <paramref name="nanoseconds"/>: a restored VM's time continues from its snapshot.</summary>
    void WriteClock(ulong nanoseconds);

    /// <summary>
    /// Interrupt-controller and timer state the engine keeps out of the machine's reach (KVM: the in-kernel PIC pair,
    /// IOAPIC and PIT), as bytes only the same engine reads back; empty when the engine keeps none (the emulator's
    /// IOAPIC is a device on the MMIO bus and is saved as one). Call with the vCPUs stopped.
    /// </summary>
    byte[] SaveEngineState();

    /// <summary>Loads what <see cref="SaveEngineState"/> returned on the same engine; throws <see cref="EngineException"/> if it does not fit.</summary>
    void RestoreEngineState(byte[] state);
}
