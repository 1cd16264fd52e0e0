using System.Diagnostics;
using Sharpvisor.Engines;
using Sharpvisor.Machine.Acpi;
using Sharpvisor.Machine.Boot;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Devices.Serial;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// The machine as built for one boot: memory, buses, its <see cref="MachineDevices"/>, the engine's VM, the vCPUs and
/// their <see cref="VcpuThreads"/>, and what it starts from (the kernel with ACPI tables, a snapshot, or a migration's
/// stream). A reboot throws it away and builds a new one, so nothing of the old boot leaks into the next.
/// </summary>
internal sealed class MachineInstance : IDisposable
{
    private readonly IVcpu[] _vcpus;
    private readonly MachineDevices _devices;
    private readonly VcpuThreads _threads;
    private readonly MachineStateTransfer _state;
    private long _clockPausedAt; // Stopwatch timestamp of the last pause, for a catch-up on resume

    public GuestMemory Memory { get; }
    /// <summary>As built, with each disk's path as it is now (a snapshot moves writable disks onto overlays).</summary>
    public VmConfig Config { get; internal set; }
    public EngineKind EngineKind { get; }
    public PortIoBus Ports { get; } = new();
    public MmioBus Mmio { get; } = new();
    public IVirtualMachine EngineVm { get; }
    public IReadOnlyList<IVcpu> Vcpus => _vcpus;
    public Uart16550 Uart => _devices.Uart;
    /// <summary>The virtio-balloon model when the configuration asks for one.</summary>
    public VirtioBalloon? Balloon => _devices.Balloon;
    /// <summary>The i8042 controller and its PS/2 keyboard.</summary>
    public Machine.Devices.Input.I8042Controller Keyboard => _devices.Keyboard;
    public IReadOnlyList<VirtioBlock> Disks => _devices.Disks;
    /// <summary>The ACPI Generic Event Device that signals the guest's power button.</summary>
    public Machine.Devices.Power.AcpiGenericEventDevice GenericEvents => _devices.GenericEvents;
    /// <summary>The device kinds this machine saves and restores, the same both ways.</summary>
    public DeviceStateRegistry DeviceStates { get; }
    /// <summary>For a machine restored from a snapshot: the stored pages of each region (slot -> runs), else null.</summary>
    public IReadOnlyDictionary<int, ulong[]>? RestoredMemoryRuns { get; }
    /// <summary>Notes on what a restore left behind (engine-owned state the other engine keeps itself).</summary>
    public List<string> RestoreNotes => _state.RestoreNotes;

    /// <summary>
    /// Builds the machine and loads the kernel, or, with <paramref name="restore"/>, maps the snapshot's memory and
    /// loads its vCPU and device state instead (the kernel is then not needed; the guest clock is left paused at the
    /// snapshot's value until <see cref="Start"/>). With <paramref name="incoming"/> (a live migration's arrival) it
    /// takes the received RAM and state if they are all there; if only the configuration is, it builds the machine
    /// empty (no kernel, no state) for the stream to fill and <see cref="LoadState"/> to complete.
    /// </summary>
    /// <param name="empty">Built with neither a kernel nor a state (its vCPUs stay at reset): a warm-up's machine, never run.</param>
    public MachineInstance(VmConfig config, IEngine engine, Networking.NetworkBackends networks, byte[] kernel, byte[] initrd,
        Action<byte> serialOutput, StopLatch stop, LoadedSnapshot? restore = null, ReceivedMigration? incoming = null, bool empty = false,
        DeviceStateRegistry? deviceStates = null, Throttling.IoThrottles? throttles = null)
    {
        Config = config;
        EngineKind = engine.Kind;
        DeviceStates = deviceStates ?? DeviceStateRegistry.Default;
        _state = new MachineStateTransfer(this, DeviceStates);
        Memory = incoming?.TakeMemory() ?? GuestMemory.CreateX86(config.MemoryBytes);
        var state = restore?.Manifest ?? incoming?.Machine;
        try
        {
            if (restore is not null)
            {
                GuestMemoryImage.MapPrivately(Memory, restore.MemoryPath, restore.Manifest.Memory);
                RestoredMemoryRuns = restore.Manifest.Memory.Regions.ToDictionary(r => r.Slot, r => r.Runs);
            }
            // After the snapshot's mapping: madvise advice belongs to the mapping it was given to.
            if (config.Ksm) Memory.MarkMergeable();
            EngineVm = engine.CreateVirtualMachine(Memory, Ports, Mmio);
            _devices = new MachineDevices(config, Memory, Ports, Mmio, EngineVm, networks, serialOutput, stop, throttles);

            var topology = config.Topology;
            _vcpus = new IVcpu[topology.VcpuCount];
            for (int i = 0; i < _vcpus.Length; i++)
            {
                var cpuid = CpuidShaper.Shape(CpuidPolicy.Filter(EngineVm.SupportedCpuid), topology, i);
                _vcpus[i] = EngineVm.CreateVcpu(i, topology.ApicId(i), cpuid);
            }
            if (state is not null) _state.Restore(state);
            else if (incoming is null && !empty) LoadKernel(kernel, initrd);
            _threads = new VcpuThreads(_vcpus, stop);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>ACPI tables, the reset vector's code and the kernel into RAM; vCPU 0 starts at the kernel's entry and
    /// the others wait in the engine for INIT and SIPI from the guest.</summary>
    private void LoadKernel(byte[] kernel, byte[] initrd)
    {
        var tables = new AcpiTableBuilder(Config.Topology.ApicIds()) { NumaNodes = Config.NumaNodes }.WriteTo(Memory);
        ResetVector.WriteTo(Memory);
        var boot = KernelLoader.Load(Memory, kernel, initrd, Config.CommandLine, tables.RsdpAddress).BootCpu;
        var initial = _vcpus[0].GetState();
        _vcpus[0].SetState(boot with
        {
            ApicBase = initial.ApicBase, LocalApic = initial.LocalApic, Msrs = initial.Msrs,
            Fpu = initial.Fpu, Events = initial.Events, RunState = VcpuRunState.Runnable,
        });
    }

    /// <summary>
    /// Starts the vCPU threads; each runs until the stop latch is set. With <paramref name="paused"/> they park
    /// before entering the guest and the clock stays stopped until <see cref="Resume"/>.
    /// </summary>
    public void Start(bool paused = false)
    {
        if (paused) PauseClock();
        else EngineVm.ResumeClock(); // a restored machine's clock waits, paused, for this moment
        _threads.Start(parked: paused);
    }

    /// <summary>
    /// Stops every vCPU between two instructions, then the guest's clock, then the devices' own threads. Returns false
    /// if the machine stopped meanwhile. State read after this is consistent: no vCPU is inside the guest.
    /// </summary>
    public bool Pause()
    {
        if (!_threads.ParkAll()) return false;
        PauseClock();
        // Guest memory and the queues stay as the vCPUs left them.
        _devices.PauseBackgroundWork();
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
        _devices.ResumeBackgroundWork();
        EngineVm.ResumeClock();
        _threads.Unpark();
    }

    /// <summary>Waits for every vCPU thread to leave the guest.</summary>
    public void Join() => _threads.Join();

    /// <summary>Port I/O and MMIO exits of every vCPU of this boot (<see cref="IVcpu.IoExits"/>).</summary>
    public long IoExits => _vcpus.Sum(v => v.IoExits);

    /// <summary>Every device as snapshots see it (<see cref="DeviceWalk"/>): the buses' devices, then their parts.</summary>
    public IReadOnlyList<DeviceSite> Devices() => DeviceWalk.On(Ports, Mmio);

    /// <summary>The machine's state for a snapshot (call while paused): vCPUs, devices and the clock; RAM is separate.</summary>
    public SnapshotManifest CaptureState() => _state.Capture();

    /// <summary>Loads the vCPU, device and clock state of a machine built empty for an incoming migration.</summary>
    public void LoadState(SnapshotManifest manifest)
    {
        RestoreNotes.Clear();
        _state.Restore(manifest);
    }

    /// <summary>The restore path run once on this machine's own state, so its first use is not downtime.</summary>
    public void WarmUpRestorePath() => _state.WarmUp();

    public void Dispose()
    {
        _threads?.Detach();
        if (_vcpus is not null)
            foreach (var v in _vcpus) v?.Dispose();
        _devices?.Dispose(); // device I/O threads stop before the memory they write goes away
        EngineVm?.Dispose();
        Memory.Dispose();
    }
}
