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
        DirtyLog = new DirtyPageLog(memory.Regions.Max(r => r.End));
        // Devices write RAM without going through a vCPU (a disk read into a page that held code): drop its blocks, log the pages.
        memory.WrittenOutsideVcpus += NoteWrittenOutsideVcpus;
    }

    public GuestMemory Memory { get; }
    public PortIoBus Ports { get; }
    public MmioBus Mmio { get; }
    public GuestClock Clock { get; } = new();
    public ApicBus ApicBus { get; }
    public IoApic IoApic { get; }
    public CodePageTracker CodePages { get; }
    /// <summary>Which pages the vCPUs wrote since the last collection, while <see cref="SetDirtyLogging"/> is on.</summary>
    public DirtyPageLog DirtyLog { get; }

    public IReadOnlyList<CpuidEntry> SupportedCpuid { get; } = EmulatorCpuid.Baseline();

    /// <summary>Called once per MSR index the guest touched that no part of the machine implements (it got #GP).</summary>
    public Action<string>? Log { get; set; }

    public IVcpu CreateVcpu(int index, uint apicId, IReadOnlyList<CpuidEntry> cpuid)
    {
        var vcpu = new EmulatorVcpu(this, index, apicId, cpuid);
        vcpu.Core.Memory.DirtyLog = DirtyLog;
        lock (_vcpus) _vcpus.Add(vcpu);
        return vcpu;
    }

    public void SetIrqLevel(uint gsi, bool asserted) => ApicBus.SetIrqLevel(gsi, asserted);

    public void SignalMsi(ulong address, uint data) => ApicBus.SignalMsi(address, data);

    /// <summary>
    /// Starts or stops the dirty log. Starting clears it and takes write rights from every vCPU's TLB, so each page's
    /// next store is logged; it returns once every vCPU has done so (at most one slice of guest code).
    /// </summary>
    public void SetDirtyLogging(bool enabled)
    {
        if (enabled == DirtyLog.Enabled) return;
        if (enabled) DirtyLog.Clear();
        DirtyLog.Enabled = enabled;
        if (enabled) DropWriteRightsEverywhere();
    }

    /// <summary>
    /// Takes the region's marks (clearing them), then takes write rights from every vCPU's TLB. In that order, a store
    /// through a translation filled before the collection lands before this returns (so a copy made afterwards holds
    /// it) and any later store refills and marks the page for the next collection.
    /// </summary>
    public void CollectDirtyPages(GuestMemoryRegion region, DirtyPageBitmap into)
    {
        if (!DirtyLog.Enabled) throw new InvalidOperationException("dirty logging is off");
        DirtyLog.TakeRegion(region, into);
        DropWriteRightsEverywhere();
    }

    public void PauseClock() => Clock.Pause();

    public void ResumeClock() => Clock.Resume();

    // The TSC counts nanoseconds and kvm-clock reads it unscaled (ParavirtualClock): the clock is the TSC.
    public ulong ReadClock() => Clock.Now();

    public void WriteClock(ulong nanoseconds) => Clock.Set(nanoseconds);

    // Everything the emulator's interrupt controllers hold is on the buses (IOAPIC) or in the CPU records (local APICs).
    public byte[] SaveEngineState() => [];

    public void RestoreEngineState(byte[] state)
    {
        if (state.Length != 0) throw new EngineException($"the emulator keeps no engine state, but {state.Length} bytes were given");
    }

    private void DropWriteRightsEverywhere()
    {
        EmulatorVcpu[] vcpus;
        lock (_vcpus) vcpus = _vcpus.ToArray();
        foreach (var vcpu in vcpus) vcpu.Core.Memory.SliceGate.DropWriteRights();
    }

    private void NoteWrittenOutsideVcpus(ulong physical, ulong length)
    {
        // The tracker takes an int length; a device's buffer may be longer (up to 4 GiB per descriptor).
        const int Chunk = 1 << 30;
        for (ulong done = 0; done < length; done += Chunk)
        {
            int piece = (int)Math.Min(Chunk, length - done);
            CodePages.NoteWrite(physical + done, piece);
            if (DirtyLog.Enabled) DirtyLog.NoteWrite(physical + done, piece);
        }
    }

    public void Dispose()
    {
        Memory.WrittenOutsideVcpus -= NoteWrittenOutsideVcpus;
        Mmio.Unregister(IoApic);
    }
}
