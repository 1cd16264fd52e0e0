using System.Diagnostics;
using Sharpvisor.Engines;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Serial;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// One VM's life in the VMM (not the engine's <see cref="IVirtualMachine"/>, which is one boot's CPU side): runs its
/// boots one after another (each a new <see cref="MachineInstance"/>), connects the serial console, reboots when the
/// guest asks (unless told not to), and reports how the run ended; it never throws because of what the guest did.
/// Pause, resume, snapshots, reset and migration may be called from any thread while <see cref="Run"/> runs, and its
/// <see cref="Lifecycle"/> allows only valid moves.
/// Locks, always taken in this order: <c>_lifecycleLock</c> (lifecycle operations and the end of a boot), then
/// <c>_machineLock</c> (the running machine, for readers a migration's long hold must not block).
/// </summary>
public sealed class Vm(VmConfig config, IEngine engine, ISerialBackend serial) : IDisposable
{
    private readonly Lock _lifecycleLock = new();
    private readonly Lock _machineLock = new();
    private volatile MachineInstance? _current;
    private readonly Networking.NetworkBackends _networks = new(); // taps stay open (and configured) across reboots
    private readonly SerialInputGate _input = new(config.HoldInputUntilOutput is { Length: > 0 } m ? System.Text.Encoding.UTF8.GetBytes(m) : null);
    private readonly BalloonTarget _balloon = new(config);
    private volatile StopLatch? _latch;
    private volatile bool _stopRequested;
    private string _stopReason = "stopped";

    /// <summary>The configuration, with each disk's path as it is now (a snapshot moves writable disks onto overlays).</summary>
    public VmConfig Config { get; private set; } = config;
    public IEngine Engine { get; } = engine;

    /// <summary>created, running, paused, saving, saved, migrating, stopped, and the moves allowed between them.</summary>
    public VmStateMachine Lifecycle { get; } = new();
    public VmState State => Lifecycle.State;

    /// <summary>A snapshot to resume instead of booting the kernel (the first boot only; a reboot loads the kernel).</summary>
    public LoadedSnapshot? RestoreFrom { get; init; }

    /// <summary>
    /// A VM that arrived by live migration (<see cref="IncomingMigration.Receive"/>), to build and run instead of
    /// booting (the first boot only). Once the machine is built the source gets its ack; if the machine cannot be
    /// built the source is told why and keeps running, and <see cref="Run"/> ends with <see cref="VmOutcome.VmmError"/>.
    /// </summary>
    public ReceivedMigration? Incoming { get; init; }

    /// <summary>Start with the vCPUs parked and the clock stopped, until <see cref="Resume"/> (QEMU's -S).</summary>
    public bool StartPaused { get; init; }

    /// <summary>Rate limiters on its disks and network interfaces (Firecracker's), changeable while it runs; none by default.</summary>
    public Throttling.IoThrottles Throttles { get; init; } = new();

    /// <summary>The metadata service (Firecracker's MMDS) the interfaces it names answer themselves, or null.</summary>
    public Networking.Mmds.MetadataService? Metadata
    {
        get => _networks.Metadata;
        init => _networks.Metadata = value;
    }

    /// <summary>The device kinds its snapshots and migrations carry, for saving and restoring alike.</summary>
    public DeviceStateRegistry DeviceStates { get; init; } = DeviceStateRegistry.Default;

    /// <summary>What the last restore could not carry over (engine-owned state of the other engine), for the user.</summary>
    public IReadOnlyList<string> RestoreNotes { get; private set; } = [];

    /// <summary>Every byte the guest writes to its serial port, for observers beside the backend (tests, host-check).</summary>
    public event Action<byte>? SerialOutput;

    /// <summary>Raised once the machine is built and its vCPUs run (again after each reboot).</summary>
    public event Action<Vm>? Started;

    /// <summary>
    /// Guest instructions the vCPUs of the running boot (or of the last one, once it ended) retired; null when the
    /// engine does not count them (KVM).
    /// </summary>
    public long? GuestInstructionsRetired
    {
        get
        {
            lock (_machineLock) return _current is { } machine ? CountInstructions(machine) : _lastBootInstructions;
        }
    }

    private long? _lastBootInstructions;

    /// <summary>The guest's clock (kvm-clock nanoseconds) of the running boot; null when no machine runs.</summary>
    public ulong? GuestClockNanoseconds
    {
        get
        {
            lock (_lifecycleLock) return _current?.EngineVm.ReadClock();
        }
    }

    /// <summary>
    /// Bytes of the running boot's guest RAM present in host memory (touched and not given back through the balloon);
    /// null when no machine runs. Unlike the process's RSS, it counts this VM alone. (The machine lock, not the
    /// lifecycle one, keeps the machine from going away meanwhile: a migration holds the latter throughout.)
    /// </summary>
    public ulong? GuestResidentBytes
    {
        get
        {
            lock (_machineLock) return _current?.Memory.ResidentBytes();
        }
    }

    private static long? CountInstructions(MachineInstance machine)
    {
        long sum = 0;
        foreach (var vcpu in machine.Vcpus)
        {
            if (vcpu is not IInstructionCounter counter) return null;
            sum += counter.InstructionsRetired;
        }
        return sum;
    }

    /// <summary>Types into the guest's serial port (held until the guest is ready for it: <see cref="SerialInputGate"/>).</summary>
    public void SendSerialInput(ReadOnlySpan<byte> bytes) => _input.Send(bytes);

    /// <summary>Stops the guest from outside; <see cref="Run"/> then returns <see cref="VmOutcome.Stopped"/>.</summary>
    public void Stop(string reason)
    {
        _stopReason = reason;
        _stopRequested = true;
        _latch?.TrySet(new(VmOutcome.Stopped, reason));
    }

    public VmRunResult Run()
    {
        var result = RunBoots();
        lock (_lifecycleLock) Lifecycle.TryMove(VmState.Stopped, out _);
        return result;
    }

    private VmRunResult RunBoots()
    {
        var clock = Stopwatch.StartNew();
        if (RestoreFrom is { Manifest.DisksCaptured: true } snapshot)
        {
            try
            {
                Config = SnapshotDiskLayers.Revert(snapshot, Config);
            }
            catch (Exception e) when (e is SnapshotException or IOException or UnauthorizedAccessException)
            {
                return new(VmOutcome.VmmError, $"cannot restore the snapshot's disks: {e.Message}", null, 0, clock.Elapsed);
            }
        }
        using var guestFiles = new GuestBootFiles(Config);

        var bootStart = new BootStart(() => Config, Engine, _networks, DeviceStates, Throttles);
        serial.Start(SendSerialInput, () => Stop("quit from the console (Ctrl-A x)"));
        for (int boot = 1; ; boot++)
        {
            var latch = new StopLatch();
            _latch = latch;
            if (_stopRequested) return new(VmOutcome.Stopped, _stopReason, null, boot - 1, clock.Elapsed);
            var restore = boot == 1 ? RestoreFrom : null;
            var incoming = boot == 1 ? Incoming : null;
            byte[] kernel = [], initrd = [];
            if (restore is null && incoming is null)
            {
                try
                {
                    (kernel, initrd) = guestFiles.Read();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return new(VmOutcome.VmmError, $"cannot read the guest's files: {e.Message}", null, boot - 1, clock.Elapsed);
                }
            }
            var (built, failure) = bootStart.Build(kernel, initrd, OnSerialOutput, latch, restore, incoming);
            if (kernel.Length > 0)
            {
                // The files' bytes (and engine selection's look at the kernel) are garbage now, in the large object heap,
                // which gives its free space back to the system only when compacted: once per boot, before the vCPUs run.
                kernel = initrd = [];
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }
            if (failure is not null) return new(failure.Outcome, failure.Message, null, boot - 1, clock.Elapsed);
            var machine = built!;
            if (restore is not null || incoming is not null) RestoreNotes = machine.RestoreNotes.ToArray();
            using (machine)
            {
                _balloon.ApplyTo(machine.Balloon, carriedState: restore is not null || incoming is not null);
                lock (_machineLock) _current = machine;
                _input.Attach(machine.Uart);
                lock (_lifecycleLock)
                {
                    bool paused = boot == 1 && (StartPaused || incoming is { Paused: true });
                    // The state first: a guest may print (and a reader of State, which takes no lock, see it) before Start returns.
                    if (boot == 1) Lifecycle.MoveTo(paused ? VmState.Paused : VmState.Running);
                    machine.Start(paused);
                }
                if (_stopRequested) latch.TrySet(new(VmOutcome.Stopped, _stopReason));
                Started?.Invoke(this);
                latch.Wait();
                machine.Join();
                // A snapshot being written holds this lock: the machine stays whole until it is done.
                lock (_lifecycleLock)
                lock (_machineLock)
                {
                    _lastBootInstructions = CountInstructions(machine);
                    _current = null;
                }
                _input.Detach();
            }
            var reason = latch.Value!;
            if (reason.Reboot && !Config.NoReboot && !_stopRequested) continue;
            return new(reason.Outcome, reason.Message, reason.DebugExitStatus, boot, clock.Elapsed);
        }
    }

    /// <summary>
    /// Resets the running machine as its reset line would (QEMU's system_reset, virsh reset): this boot ends and the VM
    /// boots again from its kernel, its disks and taps as they are; with <see cref="VmConfig.NoReboot"/> the run ends.
    /// </summary>
    public void Reset()
    {
        ThrowIfMigrating(VmState.Running);
        lock (_lifecycleLock)
        {
            RequireMachine(VmState.Running);
            if (State != VmState.Running) throw new InvalidOperationException($"the VM is {State.ToString().ToLowerInvariant()}; resume it before a reset");
            _latch!.TrySet(new(VmOutcome.ResetRequested, "the machine was reset through the control socket", Reboot: true));
        }
    }

    /// <summary>
    /// Presses the machine's ACPI power button (QEMU's system_powerdown): the guest hears it through the Generic Event
    /// Device and decides what to do (the default guest powers off). Any thread; a paused VM hears it once resumed.
    /// </summary>
    /// <exception cref="InvalidOperationException">The VM is not running or paused.</exception>
    public void PressPowerButton() => WithRunningMachine("press the power button", m => m.GenericEvents.PressPowerButton());

    /// <summary>
    /// Types Ctrl-Alt-Del on the machine's PS/2 keyboard (Firecracker's SendCtrlAltDel): Linux reboots, or signals its
    /// init, which the default guest answers with a reboot. Any thread; a paused VM gets the keys once resumed.
    /// </summary>
    /// <exception cref="InvalidOperationException">The VM is not running or paused, or the guest's keyboard has scanning
    /// off or has not read the keys sent before.</exception>
    public void SendCtrlAltDel() => WithRunningMachine("send Ctrl-Alt-Del", m =>
    {
        if (!m.Keyboard.TypeCtrlAltDel())
            throw new InvalidOperationException("the guest's keyboard did not take Ctrl-Alt-Del: its scanning is off or it has not read the keys sent before");
    });

    // The lifecycle lock keeps the machine from ending under the device call; a migration holds that lock throughout,
    // so it is refused first rather than waited for.
    private void WithRunningMachine(string what, Action<MachineInstance> action)
    {
        if (State == VmState.Migrating) throw new InvalidOperationException($"cannot {what}: the VM is migrating");
        lock (_lifecycleLock)
        {
            string state = State.ToString().ToLowerInvariant();
            if (State is not (VmState.Running or VmState.Paused))
                throw new InvalidOperationException($"cannot {what}: the VM is {state}, not running");
            if (_current is not { } machine)
                throw new InvalidOperationException($"cannot {what}: the VM is {state} but between two boots; try again");
            action(machine);
        }
    }

    /// <summary>Stops every vCPU at an instruction boundary and the guest's clock (running -> paused).</summary>
    public void Pause()
    {
        ThrowIfMigrating(VmState.Paused);
        lock (_lifecycleLock)
        {
            var machine = RequireMachine(VmState.Paused);
            if (State != VmState.Running) throw new InvalidVmTransitionException(State, VmState.Paused);
            if (!machine.Pause()) throw new InvalidOperationException("the VM stopped while it was being paused");
            Lifecycle.MoveFrom(VmState.Running, VmState.Paused);
        }
    }

    /// <summary>
    /// Lets a paused (or saved) VM run again; its clock goes on from where it stopped, or, with
    /// <paramref name="catchUpClock"/>, jumps forward by the time it was paused.
    /// </summary>
    public void Resume(bool catchUpClock = false)
    {
        ThrowIfMigrating(VmState.Running);
        lock (_lifecycleLock)
        {
            var machine = RequireMachine(VmState.Running);
            var from = State;
            if (!VmStateMachine.IsAllowed(from, VmState.Running) || from is not (VmState.Paused or VmState.Saved))
                throw new InvalidVmTransitionException(from, VmState.Running);
            machine.Resume(catchUpClock);
            Lifecycle.MoveFrom(from, VmState.Running);
        }
    }

    /// <summary>
    /// Writes a snapshot of the VM into <paramref name="directory"/>: a running VM is paused for it and then resumed
    /// (or stopped, with <paramref name="stopAfter"/>, as virsh save does); a paused one stays paused. With
    /// <paramref name="captureDisks"/> its writable disks are frozen at the same instant and it writes on into overlays
    /// (<see cref="SnapshotDiskLayers"/>; <see cref="Config"/> then names them); without, the disks are the caller's.
    /// </summary>
    public SnapshotResult SaveSnapshot(string directory, bool stopAfter = false, bool captureDisks = true)
    {
        ThrowIfMigrating(VmState.Saving);
        lock (_lifecycleLock)
        {
            var machine = RequireMachine(VmState.Saving);
            var clock = Stopwatch.StartNew();
            bool wasRunning = State == VmState.Running;
            if (wasRunning)
            {
                if (!machine.Pause()) throw new InvalidOperationException("the VM stopped while it was being paused");
                Lifecycle.MoveFrom(VmState.Running, VmState.Paused);
            }
            else if (State == VmState.Saved) Lifecycle.MoveFrom(VmState.Saved, VmState.Paused);
            var pausedAt = clock.Elapsed;
            Lifecycle.MoveFrom(VmState.Paused, VmState.Saving);
            SnapshotManifest manifest;
            try
            {
                manifest = _input.WhileHeld(machine.CaptureState);   // a few ms
                var frozen = captureDisks ? MachineDiskFreeze.Freeze(machine, directory) : [];
                try
                {
                    manifest = manifest with
                    {
                        Config = MachineDiskFreeze.WithDisks(manifest.Config, frozen, d => new DiskSpec(d.Frozen, ReadOnly: false, d.Format)),
                        DisksCaptured = captureDisks,
                        Disks = frozen.Select(f => new SnapshotDisk(f.Index, f.Disk.Top)).ToArray(),
                    };
                    manifest = SnapshotStore.Save(directory, manifest, machine.Memory, machine.RestoredMemoryRuns);
                }
                catch
                {
                    MachineDiskFreeze.Undo(machine, frozen);
                    throw;
                }
                // From here on (reboots, migrations, the next snapshot) the disks are their overlays.
                machine.Config = MachineDiskFreeze.WithDisks(machine.Config, frozen, d => new DiskSpec(d.Top, ReadOnly: false, "qcow2"));
                Config = MachineDiskFreeze.WithDisks(Config, frozen, d => new DiskSpec(d.Top, ReadOnly: false, "qcow2"));
            }
            catch
            {
                Lifecycle.MoveFrom(VmState.Saving, VmState.Paused);
                if (wasRunning)
                {
                    machine.Resume();
                    Lifecycle.MoveFrom(VmState.Paused, VmState.Running);
                }
                throw;
            }
            Lifecycle.MoveFrom(VmState.Saving, VmState.Saved);
            var saved = clock.Elapsed;
            if (stopAfter) Stop($"saved to {directory}");
            else if (wasRunning)
            {
                machine.Resume();
                Lifecycle.MoveFrom(VmState.Saved, VmState.Running);
            }
            else Lifecycle.MoveFrom(VmState.Saved, VmState.Paused);
            return new SnapshotResult(directory, manifest, pausedAt, saved - pausedAt, clock.Elapsed);
        }
    }

    /// <summary>
    /// Merges the backing file of <paramref name="image"/> into it, for a snapshot being deleted
    /// (<see cref="SnapshotDiskLayers.Release"/>). Where the image is in one of this VM's disks, that disk's files are
    /// closed meanwhile and its requests wait; the guest reads the same before and after.
    /// </summary>
    /// <returns>Clusters copied.</returns>
    public long MergeDiskLayer(string image)
    {
        ThrowIfMigrating(State);
        lock (_lifecycleLock)
        {
            image = Path.GetFullPath(image);
            var device = _current?.Disks.FirstOrDefault(d => Machine.Storage.BlockImageInfo.Chain(d.Path).Any(i => i.Path == image));
            if (device is null) return Machine.Storage.Qcow2.Qcow2BackingMerge.Merge(image);
            long copied = 0;
            Exception? failure = null;
            device.ChangeImage(current =>
            {
                string format = current.Format;
                current.Dispose();
                try { copied = Machine.Storage.Qcow2.Qcow2BackingMerge.Merge(image); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { failure = e; }   // the chain is whole still
                return (Machine.Storage.BlockBackendOpener.Open(device.Path, device.ReadOnly, format), device.Path);
            });
            if (failure is not null) throw new IOException($"cannot merge into {image}: {failure.Message}", failure);
            return copied;
        }
    }

    /// <summary>
    /// Asks the guest to keep <paramref name="guestBytes"/> of its RAM (QEMU's <c>balloon</c>); kept across reboots.
    /// </summary>
    public void SetBalloonTarget(ulong guestBytes) => _balloon.Set(guestBytes, _current?.Balloon);

    /// <summary>The running boot's balloon (target, actual, statistics, counters), or null.</summary>
    public Machine.Devices.Virtio.VirtioBalloon? Balloon => _current?.Balloon;

    /// <summary>The current boot's device and vCPU counters; null when no machine is built.</summary>
    public VmStatistics? Statistics() => _current is { } machine ? VmStatistics.Of(machine) : null;

    /// <summary>
    /// Migrates the running (or paused) VM to the destination listening on <paramref name="host"/>:<paramref name="port"/>
    /// (`run --incoming`): pre-copy rounds while it runs, then a short pause for the last pages and the vCPU and device
    /// state. Once the destination acknowledges, this VM stops and <see cref="Run"/> returns
    /// <see cref="VmOutcome.Migrated"/>. On any failure it throws <see cref="MigrationException"/> and the VM goes on
    /// as it was (running or paused), with dirty logging off. Pause, resume and snapshots are refused meanwhile.
    /// </summary>
    public MigrationSummary MigrateTo(string host, int port, MigrationOptions options,
        IProgress<MigrationProgress>? progress = null, CancellationToken cancel = default)
    {
        options = options.Validated();
        ThrowIfMigrating(VmState.Migrating);
        // Held throughout: the machine stays whole (a boot that ends waits for the migration to let go).
        lock (_lifecycleLock)
        {
            var machine = RequireMachine(VmState.Migrating);
            var latch = _latch!;
            var from = State;
            if (from is not (VmState.Running or VmState.Paused)) throw new InvalidVmTransitionException(from, VmState.Migrating);
            Lifecycle.MoveFrom(from, VmState.Migrating);
            MigrationSummary summary;
            try
            {
                summary = new MigrationSource(machine, () => _input.WhileHeld(machine.CaptureState), Engine.Kind, latch, options, progress, cancel)
                    .Run(host, port, vmWasPaused: from == VmState.Paused);
            }
            catch
            {
                Lifecycle.MoveFrom(VmState.Migrating, from);
                throw;
            }
            _stopReason = $"migrated to {summary.Destination}";
            _stopRequested = true;
            latch.TrySet(new(VmOutcome.Migrated, _stopReason));
            return summary;
        }
    }

    private void ThrowIfMigrating(VmState wanted)
    {
        if (State == VmState.Migrating) throw new InvalidVmTransitionException(VmState.Migrating, wanted);
    }

    private MachineInstance RequireMachine(VmState wanted) =>
        _current ?? throw new InvalidVmTransitionException(State, wanted);

    private void OnSerialOutput(byte value)
    {
        serial.Write(value);
        SerialOutput?.Invoke(value);
        _input.OnGuestOutput(value);
    }

    public void Dispose()
    {
        serial.Dispose();
        _networks.Dispose();
    }
}
