using System.Diagnostics;
using Sharpvisor.Engines;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Serial;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// A VM from start to end: builds the machine, runs its vCPUs, connects the serial console, reboots it when the guest
/// asks (unless told not to), and reports how the run ended. It never throws because of what the guest did.
/// Its <see cref="Lifecycle"/> allows only valid moves: <see cref="Pause"/>, <see cref="Resume"/> and
/// <see cref="SaveSnapshot"/> may be called from any thread while <see cref="Run"/> runs.
/// </summary>
public sealed class VirtualMachine(VmConfig config, IEngine engine, ISerialBackend serial) : IDisposable
{
    private readonly object _inputLock = new();
    private readonly List<byte> _inputBeforeBoot = [];
    private volatile MachineInstance? _current;
    private readonly Networking.NetworkBackends _networks = new(); // taps stay open (and configured) across reboots
    private volatile StopLatch? _latch;
    private volatile bool _stopRequested;
    private string _stopReason = "stopped";
    private readonly byte[]? _holdMarker = config.HoldInputUntilOutput is { Length: > 0 } m ? System.Text.Encoding.UTF8.GetBytes(m) : null;
    private int _holdMatched;
    private bool _inputReleased;
    // Serialises pause, resume and snapshots with each other and with the end of a boot.
    private readonly Lock _lifecycleLock = new();

    public VmConfig Config { get; } = config;
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

    /// <summary>Device state kinds a snapshot can carry; devices added later register theirs here.</summary>
    public DeviceStateCodecs DeviceCodecs { get; init; } = DeviceStateCodecs.Default;

    /// <summary>What the last restore could not carry over (engine-owned state of the other engine), for the user.</summary>
    public IReadOnlyList<string> RestoreNotes { get; private set; } = [];

    /// <summary>Every byte the guest writes to its serial port, for observers beside the backend (tests, host-check).</summary>
    public event Action<byte>? SerialOutput;

    /// <summary>Raised once the machine is built and its vCPUs run (again after each reboot).</summary>
    public event Action<VirtualMachine>? Started;

    /// <summary>
    /// Guest instructions the vCPUs of the running boot (or of the last one, once it ended) retired; null when the
    /// engine does not count them (KVM).
    /// </summary>
    public long? GuestInstructionsRetired
    {
        get
        {
            lock (_inputLock) return _current is { } machine ? CountInstructions(machine) : _lastBootInstructions;
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
    /// null when no machine runs. Unlike the process's RSS, it counts this VM alone. (The input lock, not the lifecycle
    /// one, keeps the machine from going away meanwhile: a migration holds the latter throughout.)
    /// </summary>
    public ulong? GuestResidentBytes
    {
        get
        {
            lock (_inputLock) return _current?.Memory.ResidentBytes();
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

    /// <summary>Types into the guest's serial port.</summary>
    public void SendSerialInput(ReadOnlySpan<byte> bytes)
    {
        lock (_inputLock)
        {
            if (_current is { } machine && _inputReleased) machine.Uart.EnqueueInput(bytes);
            else _inputBeforeBoot.AddRange(bytes.ToArray());
        }
    }

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
        byte[] kernel = [], initrd = [];
        bool haveKernel = false;

        serial.Start(SendSerialInput, () => Stop("quit from the console (Ctrl-A x)"));
        for (int boot = 1; ; boot++)
        {
            var latch = new StopLatch();
            _latch = latch;
            if (_stopRequested) return new(VmOutcome.Stopped, _stopReason, null, boot - 1, clock.Elapsed);
            var restore = boot == 1 ? RestoreFrom : null;
            var incoming = boot == 1 ? Incoming : null;
            if (restore is null && incoming is null && !haveKernel)
            {
                try
                {
                    kernel = File.ReadAllBytes(Config.KernelPath);
                    initrd = Config.InitrdPath is null ? [] : File.ReadAllBytes(Config.InitrdPath);
                    haveKernel = true;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return new(VmOutcome.VmmError, $"cannot read the guest's files: {e.Message}", null, boot - 1, clock.Elapsed);
                }
            }
            MachineInstance machine;
            try
            {
                machine = new MachineInstance(Config, Engine, _networks, kernel, initrd, OnSerialOutput, latch, restore, incoming);
                if (restore is not null || incoming is not null) RestoreNotes = machine.RestoreNotes.ToArray();
            }
            catch (Exception e)
            {
                string what = restore is not null ? $"cannot restore the snapshot in {restore.Directory}"
                    : incoming is not null ? $"cannot build the VM that migrated from {incoming.Source}" : "cannot build the machine";
                incoming?.Refuse($"{what}: {e.Message}");
                return new(VmOutcome.VmmError, $"{what}: {e.Message}", null, boot - 1, clock.Elapsed);
            }
            if (incoming is { HasArrived: false })
            {
                try
                {
                    ReceiveIncoming(machine, incoming, latch);
                    RestoreNotes = machine.RestoreNotes.ToArray();
                }
                catch (Exception e) when (e is MigrationException or OperationCanceledException)
                {
                    machine.Dispose();
                    if (latch.IsSet) return new(VmOutcome.Stopped, _stopReason, null, boot - 1, clock.Elapsed);
                    return new(VmOutcome.VmmError, $"the incoming migration failed: {e.Message}", null, boot - 1, clock.Elapsed);
                }
                catch (Exception e) when (e is SnapshotException or EngineException)
                {
                    string what = $"cannot load the state of the VM that migrated from {incoming.Source}: {e.Message}";
                    incoming.Refuse(what);
                    machine.Dispose();
                    return new(VmOutcome.VmmError, what, null, boot - 1, clock.Elapsed);
                }
            }
            if (incoming is not null)
            {
                try
                {
                    incoming.Acknowledge();
                }
                catch (MigrationException e)
                {
                    machine.Dispose();
                    return new(VmOutcome.VmmError, e.Message, null, boot - 1, clock.Elapsed);
                }
            }
            using (machine)
            {
                // A restored or received machine brings its balloon's target along; a boot gets the one set here.
                if (restore is not null || incoming is not null) _balloonTargetPages = machine.Balloon?.TargetPages ?? 0;
                else machine.Balloon?.SetTargetPages(_balloonTargetPages);
                lock (_inputLock)
                {
                    _current = machine;
                    _holdMatched = 0;
                    _inputReleased = _holdMarker is null;
                    if (_inputReleased) ReleaseHeldInput(machine);
                }
                lock (_lifecycleLock)
                {
                    bool paused = boot == 1 && (StartPaused || incoming is { Paused: true });
                    machine.Start(paused);
                    if (boot == 1) Lifecycle.MoveTo(paused ? VmState.Paused : VmState.Running);
                }
                if (_stopRequested) latch.TrySet(new(VmOutcome.Stopped, _stopReason));
                Started?.Invoke(this);
                latch.Wait();
                machine.Join();
                // A snapshot being written holds this lock: the machine stays whole until it is done.
                lock (_lifecycleLock)
                lock (_inputLock)
                {
                    _lastBootInstructions = CountInstructions(machine);
                    _current = null;
                }
            }
            var reason = latch.Value!;
            if (reason.Reboot && !Config.NoReboot && !_stopRequested) continue;
            return new(reason.Outcome, reason.Message, reason.DebugExitStatus, boot, clock.Elapsed);
        }
    }

    /// <summary>
    /// The rest of an incoming migration, into a machine already built from its configuration: while the pages arrive
    /// the restore path is warmed on a thread of its own; then the state is loaded. <see cref="Stop"/> cancels it.
    /// </summary>
    private void ReceiveIncoming(MachineInstance machine, ReceivedMigration incoming, StopLatch latch)
    {
        var warmUp = MigrationWarmUp.OnOwnThread(() => machine.WarmUpRestorePath(DeviceCodecs));
        using var cancel = new CancellationTokenSource();
        Action onStop = cancel.Cancel;
        latch.Triggered += onStop;
        try
        {
            if (latch.IsSet) cancel.Cancel();
            incoming.ReceiveInto(machine.Memory, cancel.Token);
        }
        finally
        {
            latch.Triggered -= onStop;
            // It touches vCPUs and devices: done before the real state goes in (or the machine goes away). A warm-up
            // that failed costs only time; the real restore reports its own errors.
            try { warmUp.Wait(); }
            catch (AggregateException) { }
        }
        machine.LoadState(incoming.Machine!);
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
    /// (or stopped, with <paramref name="stopAfter"/>, as virsh save does); a paused one stays paused.
    /// </summary>
    public SnapshotResult SaveSnapshot(string directory, bool stopAfter = false)
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
                // Host input waits while the records are taken (a few ms): bytes reaching the UART after its record
                // and before the IOAPIC's would leave the two disagreeing about COM1's line.
                lock (_inputLock) manifest = machine.CaptureState(DeviceCodecs, Engine.Kind);
                manifest = SnapshotStore.Save(directory, manifest, machine.Memory, machine.RestoredMemoryRuns);
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

    // The balloon target outlives a reboot, as with QEMU: the next boot's driver inflates to it again.
    private volatile uint _balloonTargetPages;

    /// <summary>
    /// Asks the guest to keep <paramref name="guestBytes"/> of its RAM (QEMU's <c>balloon</c>): the balloon's target
    /// becomes the rest, in 4 KiB pages, and the driver gets a configuration interrupt. Kept across reboots.
    /// </summary>
    public void SetBalloonTarget(ulong guestBytes)
    {
        if (!Config.BalloonDevice) throw new InvalidOperationException("the VM has no balloon device (run it with --balloon)");
        if (guestBytes > Config.MemoryBytes)
            throw new InvalidOperationException($"the guest has {Configuration.MemorySize.Format(Config.MemoryBytes)}; it cannot keep more");
        _balloonTargetPages = (uint)((Config.MemoryBytes - guestBytes) / Machine.Devices.Virtio.VirtioBalloon.PageSize);
        _current?.Balloon?.SetTargetPages(_balloonTargetPages);
    }

    /// <summary>The running boot's balloon (target, actual, statistics, counters), or null.</summary>
    public Machine.Devices.Virtio.VirtioBalloon? Balloon => _current?.Balloon;

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
                summary = new MigrationSource(machine, DeviceCodecs, Engine.Kind, latch, options, progress, cancel)
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
        if (_holdMarker is { } marker && !_inputReleased) WatchForInputRelease(marker, value);
    }

    // The guest's output is matched against the marker byte by byte; once it has appeared, held input goes in.
    private void WatchForInputRelease(byte[] marker, byte value)
    {
        _holdMatched = value == marker[_holdMatched] ? _holdMatched + 1 : value == marker[0] ? 1 : 0;
        if (_holdMatched < marker.Length) return;
        lock (_inputLock)
        {
            _inputReleased = true;
            if (_current is { } machine) ReleaseHeldInput(machine);
        }
    }

    private void ReleaseHeldInput(MachineInstance machine)
    {
        if (_inputBeforeBoot.Count > 0) machine.Uart.EnqueueInput(_inputBeforeBoot.ToArray());
        _inputBeforeBoot.Clear();
    }

    public void Dispose()
    {
        serial.Dispose();
        _networks.Dispose();
    }
}
