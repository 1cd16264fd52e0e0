using System.Diagnostics;
using Sharpvisor.Engines;
using Sharpvisor.Machine.Acpi;
using Sharpvisor.Machine.Boot;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Devices.Input;
using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.Power;
using Sharpvisor.Machine.Devices.Rtc;
using Sharpvisor.Machine.Devices.Serial;
using Sharpvisor.Machine.Devices.Testing;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Interrupts;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// The machine as built for one boot: memory, buses, devices, ACPI tables, the loaded kernel, the engine's VM and its
/// vCPU threads. A reboot throws it away and builds a new one, so nothing of the old boot leaks into the next.
/// </summary>
internal sealed class MachineInstance : IDisposable
{
    private readonly VmConfig _config;
    private readonly StopLatch _stop;
    private readonly IVcpu[] _vcpus;
    private readonly Thread[] _threads;
    private I8042Controller? _i8042;
    private readonly Engines.EngineKind _engineKind;
    // Pause: vCPU threads park between Run calls while _pauseRequested; _parked counts them (guarded by _pauseLock).
    private readonly object _pauseLock = new();
    private long _clockPausedAt; // Stopwatch timestamp of the last PauseClock, for a catch-up on resume
    private bool _pauseRequested;
    private int _parked;
    private int _running;
    private readonly List<IDisposable> _devices = [];
    private readonly Networking.NetworkBackends _networks; // the VM's, kept across boots

    public GuestMemory Memory { get; }
    public VmConfig Config => _config;
    public PortIoBus Ports { get; } = new();
    public MmioBus Mmio { get; } = new();
    public IVirtualMachine EngineVm { get; }
    public Uart16550 Uart { get; }
    public IReadOnlyList<IVcpu> Vcpus => _vcpus;
    /// <summary>The virtio-balloon model when the configuration asks for one.</summary>
    public VirtioBalloon? Balloon { get; private set; }

    /// <summary>
    /// Builds the machine and loads the kernel, or, with <paramref name="restore"/>, maps the snapshot's memory and
    /// loads its vCPU and device state instead (the kernel is then not needed; the guest clock is left paused at the
    /// snapshot's value until <see cref="Start"/>). With <paramref name="incoming"/> (a live migration's arrival) it
    /// takes the received RAM and state if they are all there; if only the configuration is, it builds the machine
    /// empty (no kernel, no state) for the stream to fill and <see cref="LoadState"/> to complete.
    /// </summary>
    /// <param name="empty">Built with neither a kernel nor a state (its vCPUs stay at reset): a warm-up's machine, never run.</param>
    public MachineInstance(VmConfig config, IEngine engine, Networking.NetworkBackends networks, byte[] kernel, byte[] initrd,
        Action<byte> serialOutput, StopLatch stop, LoadedSnapshot? restore = null, ReceivedMigration? incoming = null, bool empty = false)
    {
        _config = config;
        _networks = networks;
        _stop = stop;
        _engineKind = engine.Kind;
        Memory = incoming?.TakeMemory() ?? GuestMemory.CreateX86(config.MemoryBytes);
        var state = restore?.Manifest ?? incoming?.Machine;
        try
        {
            if (restore is not null)
            {
                GuestMemoryImage.MapPrivately(Memory, restore.MemoryPath, restore.Manifest.Memory);
                RestoredMemoryRuns = restore.Manifest.Memory.Regions.ToDictionary(r => r.Slot, r => r.Runs);
            }
            EngineVm = engine.CreateVirtualMachine(Memory, Ports, Mmio);
            Uart = new Uart16550(serialOutput, new InterruptLine(EngineVm, Uart16550.Com1Irq));
            AttachDevices();

            var topology = config.Topology;
            CpuState? boot = null;
            if (state is null && incoming is null && !empty)
            {
                var tables = new AcpiTableBuilder(topology.ApicIds()).WriteTo(Memory);
                ResetVector.WriteTo(Memory);
                boot = KernelLoader.Load(Memory, kernel, initrd, config.CommandLine, tables.RsdpAddress).BootCpu;
            }

            _vcpus = new IVcpu[topology.VcpuCount];
            for (int i = 0; i < _vcpus.Length; i++)
            {
                var cpuid = CpuidShaper.Shape(CpuidPolicy.Filter(EngineVm.SupportedCpuid), topology, i);
                _vcpus[i] = EngineVm.CreateVcpu(i, topology.ApicId(i), cpuid);
            }
            if (state is not null) RestoreState(state);
            else if (incoming is null && !empty)
            {
                // vCPU 0 starts at the kernel's entry; the others wait in the engine for INIT and SIPI from the guest.
                var initial = _vcpus[0].GetState();
                _vcpus[0].SetState(boot! with
                {
                    ApicBase = initial.ApicBase, LocalApic = initial.LocalApic, Msrs = initial.Msrs,
                    Fpu = initial.Fpu, Events = initial.Events, RunState = VcpuRunState.Runnable,
                });
            }
            _threads = new Thread[_vcpus.Length];
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private void AttachDevices()
    {
        Ports.Register(Uart16550.Com1Port, Uart16550.PortCount, Uart, "COM1 (16550A)");
        (_i8042 = new I8042Controller(
                () => _stop.TrySet(new(VmOutcome.ResetRequested, "the guest reset the machine through the i8042 controller", Reboot: true)),
                new InterruptLine(EngineVm, I8042Controller.KeyboardIrq), new InterruptLine(EngineVm, I8042Controller.AuxIrq)))
            .Attach(Ports);
        Ports.Register(CmosRtc.IndexPort, CmosRtc.PortCount, new CmosRtc(_config.MemoryBytes), "CMOS RTC");
        var pci = new PciRoot();
        Ports.Register(PciRoot.ConfigAddressPort, PciRoot.PortCount, pci, "PCI configuration (mechanism #1)");
        // BARs go where the DSDT's host bridge _CRS says PCI memory is (AcpiTableBuilder's default description).
        var bars = new PciBarAllocator(X86MemoryLayout.PciMmioStart, X86MemoryLayout.PciMmioEnd);
        if (_config.EntropyDevice) AttachVirtio(pci, bars, new VirtioRng(), "virtio-rng");
        if (_config.BalloonDevice) AttachVirtio(pci, bars, Balloon = new VirtioBalloon(), "virtio-balloon");
        for (int i = 0; i < _config.Disks.Count; i++)
        {
            var disk = _config.Disks[i];
            string name = $"vd{(char)('a' + i)}";
            AttachVirtio(pci, bars, new VirtioBlock(disk.Path, disk.ReadOnly, $"sharpvisor-{name}", LogDevice), $"virtio-blk {name}");
        }
        foreach (var net in _config.Networks)
            AttachVirtio(pci, bars, new VirtioNet(_networks.For(net, LogDevice), net.MacBytes(), LogDevice), $"virtio-net {net.Tap}");
        var power = new AcpiPowerDevice(
            powerOffRequested: () => _stop.TrySet(new(VmOutcome.PoweredOff, "the guest powered off")),
            resetRequested: () => _stop.TrySet(new(VmOutcome.ResetRequested, "the guest reset the machine through ACPI", Reboot: true)));
        Ports.Register(AcpiPowerDevice.BasePort, AcpiPowerDevice.PortCount, power, "ACPI power registers");
        if (_config.TestDevices)
        {
            Ports.Register(DebugExitDevice.DefaultPort, DebugExitDevice.DefaultPortCount, new DebugExitDevice(OnDebugExit), "debug exit");
            Ports.Register(TestEchoPortDevice.DefaultPort, TestEchoPortDevice.PortCount, new TestEchoPortDevice(), "test echo ports");
            Mmio.Register(TestEchoMemoryDevice.DefaultAddress, TestEchoMemoryDevice.Size, new TestEchoMemoryDevice(), "test echo memory");
        }
    }

    private void AttachVirtio(PciRoot pci, PciBarAllocator bars, IVirtioDevice model, string name)
    {
        var device = new VirtioPciDevice(model, Memory, Mmio, EngineVm, LogDevice, name);
        _devices.Add(device);
        device.AttachTo(pci, bars);
    }

    private static void LogDevice(string line) => Console.Error.WriteLine($"sharpvisor: {line}");

    // isa-debug-exit semantics: the guest writes v, QEMU would exit with (v << 1) | 1; v = 0 is a test guest's pass.
    private void OnDebugExit(int exitCode)
    {
        int status = exitCode >> 1;
        _stop.TrySet(status == 0
            ? new(VmOutcome.PoweredOff, "the guest reported success on the debug-exit port", status)
            : new(VmOutcome.GuestReportedFailure, $"the guest reported failure {status} on the debug-exit port", status));
    }

    /// <summary>For a machine restored from a snapshot: the stored pages of each region (slot -> runs), else null.</summary>
    public IReadOnlyDictionary<int, ulong[]>? RestoredMemoryRuns { get; }

    /// <summary>
    /// Starts a thread per vCPU; each runs until the stop latch is set. With <paramref name="paused"/> the threads
    /// park before entering the guest and the clock stays stopped until <see cref="Resume"/>.
    /// </summary>
    public void Start(bool paused = false)
    {
        _stop.Triggered += KickAll;
        _stop.Triggered += WakeParked;
        _pauseRequested = paused;
        if (paused) PauseClock();
        else EngineVm.ResumeClock(); // a restored machine's clock waits, paused, for this moment
        _running = _vcpus.Length;
        for (int i = 0; i < _vcpus.Length; i++)
        {
            var vcpu = _vcpus[i];
            _threads[i] = new Thread(() => VcpuLoop(vcpu)) { IsBackground = true, Name = $"vCPU {i}" };
            _threads[i].Start();
        }
    }

    private void VcpuLoop(IVcpu vcpu)
    {
        try
        {
            while (!_stop.IsSet)
            {
                if (Volatile.Read(ref _pauseRequested))
                {
                    ParkWhilePaused();
                    continue;
                }
                var exit = vcpu.Run();
                switch (exit.Reason)
                {
                    case VcpuExitReason.Kicked:
                        break;
                    case VcpuExitReason.Halted:
                        _stop.WaitHandle.WaitOne(1); // an engine without an in-kernel halt: poll gently
                        break;
                    case VcpuExitReason.PowerOff:
                        _stop.TrySet(new(VmOutcome.PoweredOff, "the guest powered off"));
                        break;
                    case VcpuExitReason.Reset:
                        _stop.TrySet(new(VmOutcome.ResetRequested, "the guest reset the machine", Reboot: true));
                        break;
                    case VcpuExitReason.Shutdown:
                    case VcpuExitReason.Failed:
                        _stop.TrySet(new(VmOutcome.GuestCrashed, exit.Report ?? $"vCPU {vcpu.Index} stopped: {exit.Reason}"));
                        break;
                }
            }
        }
        catch (Exception e)
        {
            _stop.TrySet(new(VmOutcome.VmmError, $"vCPU {vcpu.Index}: {e.Message}"));
        }
        finally
        {
            lock (_pauseLock)
            {
                _running--;
                Monitor.PulseAll(_pauseLock);
            }
        }
    }

    private void ParkWhilePaused()
    {
        lock (_pauseLock)
        {
            _parked++;
            Monitor.PulseAll(_pauseLock);
            while (_pauseRequested && !_stop.IsSet) Monitor.Wait(_pauseLock);
            _parked--;
        }
    }

    private void WakeParked()
    {
        lock (_pauseLock) Monitor.PulseAll(_pauseLock);
    }

    /// <summary>
    /// Stops every vCPU between two instructions (each leaves Run and parks) and then the guest's clock. Returns false
    /// if the machine stopped meanwhile. State read after this is consistent: no vCPU is inside the guest.
    /// </summary>
    public bool Pause()
    {
        lock (_pauseLock) _pauseRequested = true;
        while (true)
        {
            KickAll(); // repeated: a kick can race with a thread just entering the guest
            lock (_pauseLock)
            {
                if (_stop.IsSet) return false;
                if (_parked == _running) break;
                Monitor.Wait(_pauseLock, 10);
            }
        }
        PauseClock();
        // Devices with threads of their own finish their batch and hold, so guest memory and the queues stay as the vCPUs left them.
        foreach (var device in BackgroundDevices()) device.PauseProcessing();
        return true;
    }

    private void PauseClock()
    {
        EngineVm.PauseClock();
        _clockPausedAt = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// Starts the clock and lets the parked vCPUs run again. The guest's clock goes on from where it stopped, as in
    /// QEMU; with <paramref name="catchUpClock"/> it first moves forward by the time the machine was paused.
    /// </summary>
    public void Resume(bool catchUpClock = false)
    {
        if (catchUpClock)
            EngineVm.WriteClock(EngineVm.ReadClock() + (ulong)Stopwatch.GetElapsedTime(_clockPausedAt).Ticks * 100);
        foreach (var device in BackgroundDevices()) device.ResumeProcessing();
        EngineVm.ResumeClock();
        lock (_pauseLock)
        {
            _pauseRequested = false;
            Monitor.PulseAll(_pauseLock);
        }
    }

    /// <summary>
    /// Every device on the buses, the i8042 once for its two port windows, and each virtio-pci device once (by name)
    /// rather than its BAR windows on the MMIO bus, which its own state record remaps on restore.
    /// </summary>
    public IEnumerable<(string Location, object Device, string Name)> Devices()
    {
        var virtio = _devices.OfType<Machine.Devices.Virtio.VirtioPciDevice>().ToList();
        foreach (var (location, device, name) in DeviceStateCodecs.DevicesOn(Ports, Mmio))
        {
            if (_i8042 is not null && location is "port:0x60" or "port:0x64") continue;
            if (virtio.Any(v => name.StartsWith(v.Name + " BAR ", StringComparison.Ordinal))) continue;
            yield return (location, device, name);
        }
        if (_i8042 is not null) yield return ("port:0x60", _i8042, "i8042");
        foreach (var device in virtio)
        {
            yield return ($"pci:{device.Name}", device, device.Name);
            // virtio-net (MAC, link) and virtio-balloon (target, actual, statistics) keep state of their own beside the
            // transport's, restored after it (the transport's restore resets and re-activates the model).
            if (device.Device is VirtioNet or VirtioBalloon) yield return ($"pci:{device.Name}:model", device.Device, $"{device.Name} model");
        }
    }

    private IEnumerable<IVirtioBackgroundWork> BackgroundDevices() =>
        _devices.OfType<VirtioPciDevice>().Select(d => d.Device).OfType<IVirtioBackgroundWork>();

    /// <summary>The machine's state for a snapshot (call while paused): vCPUs, devices and the clock; RAM is separate.</summary>
    public SnapshotManifest CaptureState(DeviceStateCodecs codecs, Engines.EngineKind engine)
    {
        var devices = new List<DeviceStateEntry>();
        foreach (var (location, device, name) in Devices())
        {
            var codec = codecs.For(device)
                ?? throw new SnapshotException($"the device {name} at {location} ({device.GetType().Name}) cannot be saved: it has no registered state record");
            // The IOAPIC the emulator puts on the bus is the engine's own; KVM keeps its IOAPIC in the kernel.
            bool engineOwned = device is Machine.Devices.Interrupts.IoApic;
            devices.Add(new DeviceStateEntry(location, codec.Kind, engineOwned, codec.Save(device)));
        }
        return new SnapshotManifest
        {
            CreatedUtc = DateTimeOffset.UtcNow,
            SourceEngine = engine,
            Config = _config,
            ClockNanoseconds = EngineVm.ReadClock(),
            Vcpus = _vcpus.Select(v => v.GetState()).ToArray(),
            Devices = devices.ToArray(),
            EngineState = EngineVm.SaveEngineState(),
            Memory = new MemoryImage { FileName = "", Regions = [], Sha256 = "" },
        };
    }

    /// <summary>Notes on what a restore left behind (engine-owned state the other engine keeps itself).</summary>
    public List<string> RestoreNotes { get; } = [];

    /// <summary>Loads the vCPU, device and clock state of a machine built empty for an incoming migration.</summary>
    public void LoadState(SnapshotManifest manifest)
    {
        RestoreNotes.Clear();
        RestoreState(manifest);
    }

    /// <summary>
    /// Runs the restore path once on this machine's own state while it is built and not started (an incoming
    /// migration receiving pages): the first restore in a process pays for loading and compiling the code of every
    /// device record and vCPU setter, and that should not fall into the migration's downtime. <see cref="LoadState"/>
    /// later overwrites everything this sets.
    /// </summary>
    public void WarmUpRestorePath(DeviceStateCodecs codecs)
    {
        try
        {
            RestoreState(CaptureState(codecs, _engineKind));
        }
        catch (Exception e) when (e is SnapshotException or EngineException or InvalidOperationException or ArgumentException)
        {
            // Only the warm-up is lost: the real state comes with the stream.
        }
        RestoreNotes.Clear();
    }

    private void RestoreState(SnapshotManifest manifest)
    {
        // The clock first, stopped, so the TSC the CPU records name is measured against the restored clock.
        EngineVm.PauseClock();
        EngineVm.WriteClock(manifest.ClockNanoseconds);
        for (int i = 0; i < _vcpus.Length; i++) _vcpus[i].SetState(manifest.Vcpus[i]);
        if (manifest.EngineState.Length > 0)
        {
            if (manifest.SourceEngine == _engineKind) EngineVm.RestoreEngineState(manifest.EngineState);
            else RestoreNotes.Add($"the {manifest.SourceEngine} engine's own interrupt-controller and timer state stays behind; this engine starts its own afresh");
        }
        var here = Devices().ToDictionary(d => d.Location);
        // Interrupt controllers first (engine-owned records: the emulator's IOAPIC; KVM's irqchip came with the engine
        // state above), then the devices wired to them, whose restore drives each line to the device's own level. The
        // other way round, the controller's saved pin levels overwrote the devices': COM1's pin is edge-triggered, so
        // a pin left high by input that reached the UART after its record was taken swallowed the next rising edge and
        // the console heard nothing more after the restore.
        foreach (var entry in manifest.Devices.OrderBy(e => e.EngineOwned ? 0 : 1))
        {
            var codec = DeviceStateCodecs.Default.For(entry.Kind)
                ?? throw new SnapshotException($"the snapshot holds a device of kind '{entry.Kind}' at {entry.Location} that this build does not know");
            if (!here.TryGetValue(entry.Location, out var device) || codec.DeviceType != device.Device.GetType())
            {
                if (entry.EngineOwned)
                {
                    RestoreNotes.Add($"{entry.Kind} state at {entry.Location} belongs to the {manifest.SourceEngine} engine; this engine starts its own afresh");
                    continue;
                }
                throw new SnapshotException($"the snapshot has a {entry.Kind} device at {entry.Location}, which this machine lacks (is its configuration the same?)");
            }
            try
            {
                codec.Restore(device.Device, entry.State);
            }
            catch (Exception e) when (e is ArgumentException or System.Text.Json.JsonException)
            {
                throw new SnapshotException($"the {entry.Kind} state at {entry.Location} is not usable: {e.Message}", e);
            }
        }
    }

    private void KickAll()
    {
        foreach (var v in _vcpus) v?.Kick();
    }

    /// <summary>Waits for every vCPU thread to leave the guest.</summary>
    public void Join()
    {
        foreach (var t in _threads)
        {
            if (t is null) continue;
            while (!t.Join(100)) KickAll(); // a kick can race with a thread just entering the guest; repeat it
        }
    }

    public void Dispose()
    {
        _stop.Triggered -= KickAll;
        _stop.Triggered -= WakeParked;
        if (_vcpus is not null)
            foreach (var v in _vcpus) v?.Dispose();
        // Device I/O threads stop before the memory they write goes away.
        foreach (var device in _devices) device.Dispose();
        EngineVm?.Dispose();
        Memory.Dispose();
    }
}
