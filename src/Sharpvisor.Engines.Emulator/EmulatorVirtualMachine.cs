using Sharpvisor.Engines.Emulator.Apic;
using Sharpvisor.Engines.Emulator.Clock;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Devices.Interrupts;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator;

/// <summary>
/// One VM on the emulator: the parts its vCPUs share — guest memory and the buses, the TSC clock, the APIC bus with
/// the IOAPIC on it, and the record of which physical pages hold decoded code (a store by any vCPU invalidates the
/// blocks every vCPU decoded from that page).
/// </summary>
public sealed class EmulatorVirtualMachine : IVirtualMachine
{
    private readonly List<EmulatorVcpu> _vcpus = [];

    internal EmulatorVirtualMachine(GuestMemory memory, PortIoBus ports, MmioBus mmio)
    {
        Memory = memory;
        Ports = ports;
        Mmio = mmio;
        ApicBus = new ApicBus { PhysicalAddressBits = EmulatorCpuid.PhysicalAddressBits };
        IoApic = new IoApic(ApicBus);
        ApicBus.ConnectIoApic(IoApic);
        mmio.Register(IoApic.DefaultAddress, IoApic.MmioSize, IoApic, "IOAPIC");
        CodePages = new CodePageTracker(memory.Regions.Max(r => r.End));
        // Devices write RAM without going through a vCPU (a disk read into a page that held code): drop its blocks.
        memory.WrittenOutsideVcpus += NoteWrittenOutsideVcpus;
    }

    public GuestMemory Memory { get; }
    public PortIoBus Ports { get; }
    public MmioBus Mmio { get; }
    public GuestClock Clock { get; } = new();
    public ApicBus ApicBus { get; }
    public IoApic IoApic { get; }
    public CodePageTracker CodePages { get; }

    public IReadOnlyList<CpuidEntry> SupportedCpuid { get; } = EmulatorCpuid.Baseline();

    /// <summary>Called once per MSR index the guest touched that no part of the machine implements (it got #GP).</summary>
    public Action<string>? Log { get; set; }

    public IVcpu CreateVcpu(int index, uint apicId, IReadOnlyList<CpuidEntry> cpuid)
    {
        var vcpu = new EmulatorVcpu(this, index, apicId, cpuid);
        lock (_vcpus) _vcpus.Add(vcpu);
        return vcpu;
    }

    public void SetIrqLevel(uint gsi, bool asserted) => ApicBus.SetIrqLevel(gsi, asserted);

    public void SignalMsi(ulong address, uint data) => ApicBus.SignalMsi(address, data);

    public void SetDirtyLogging(bool enabled) =>
        throw new EngineException("the emulator engine does not record dirty pages yet (needed for live migration)");

    public void CollectDirtyPages(GuestMemoryRegion region, DirtyPageBitmap into) =>
        throw new EngineException("the emulator engine does not record dirty pages yet (needed for live migration)");

    private void NoteWrittenOutsideVcpus(ulong physical, ulong length)
    {
        // The tracker takes an int length; a device's buffer may be longer (up to 4 GiB per descriptor).
        const int Chunk = 1 << 30;
        for (ulong done = 0; done < length; done += Chunk)
            CodePages.NoteWrite(physical + done, (int)Math.Min(Chunk, length - done));
    }

    public void Dispose()
    {
        Memory.WrittenOutsideVcpus -= NoteWrittenOutsideVcpus;
        Mmio.Unregister(IoApic);
    }
}
