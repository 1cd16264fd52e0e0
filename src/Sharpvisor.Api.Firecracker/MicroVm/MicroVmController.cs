using Sharpvisor.Api.Firecracker.Http;
using Sharpvisor.Api.Firecracker.Model;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.EngineSelection;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Serial;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>
/// The one microVM of a `sharpvisor firecracker` process, as the API sees it: resources configured before
/// InstanceStart, then a running <see cref="Vm"/> on its own thread, with the console on the process's stdin and
/// stdout. Each call either does what it says or throws <see cref="ApiFaultException"/> having changed nothing.
/// Calls come one at a time (the API server serializes them).
/// </summary>
public sealed class MicroVmController(string instanceId, Stream? consoleInput, Stream consoleOutput, FirecrackerLog log, bool bootTimer) : IDisposable
{
    /// <summary>The Firecracker release whose API this front end answers (clients check it before using newer calls).</summary>
    public const string ApiVersion = "1.16.0";
    public const string AppName = "Sharpvisor";

    private readonly TaskCompletionSource<VmRunResult> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Vm? _vm;
    private Timer? _statsPolling;
    private bool _fromSnapshot;
    private readonly Dictionary<string, Machine.Throttling.IoRateLimiter> _driveLimiters = [];
    private readonly Dictionary<string, (Machine.Throttling.IoRateLimiter Rx, Machine.Throttling.IoRateLimiter Tx)> _interfaceLimiters = [];

    public MicroVmResources Resources { get; } = new();
    public string InstanceId => instanceId;

    /// <summary>Completes when the started microVM's run ends (the guest powered off or rebooted, or it was stopped).</summary>
    public Task<VmRunResult> Ended => _ended.Task;

    public Vm? RunningVm => _vm;

    public InstanceInfo Describe() => new(AppName, instanceId, StateName, ApiVersion);

    private string StateName => _vm is null ? "Not started" : _vm.State is VmState.Paused or VmState.Saved ? "Paused" : "Running";

    public FullVmConfiguration FullConfiguration() =>
        _fromSnapshot ? Resources.ToFullConfiguration() with { BootSource = null } : Resources.ToFullConfiguration();

    // ---- the rules of when a call is allowed ----

    public void RequireNotStarted()
    {
        if (_vm is not null) throw new ApiFaultException("this call is not allowed after the microVM started (InstanceStart or snapshot/load)");
    }

    public Vm RequireStarted()
    {
        return _vm ?? throw new ApiFaultException("this call is not allowed before the microVM starts (InstanceStart or snapshot/load)");
    }

    // ---- actions ----

    public void InstanceStart()
    {
        RequireNotStarted();
        var (config, dropped) = Resources.ToVmConfig();
        if (dropped.Count > 0)
            log.Info($"boot_args: left out {string.Join(' ', dropped)} (Sharpvisor's virtio devices are on PCI and their drivers are modules)");
        Start(config, restore: null, paused: false);
    }

    public void LoadSnapshot(SnapshotLoadParams request)
    {
        RequireNotStarted();
        if (Resources.AnyMachineResource)
            throw new ApiFaultException("snapshot/load is allowed only in a fresh process, before any machine resource is configured");
        string memory = (request.MemFilePath, request.MemBackend) switch
        {
            (null, null) => throw new ApiFaultException("give 'mem_backend' (or the older 'mem_file_path') with snapshot/load"),
            ({ }, { }) => throw new ApiFaultException("give 'mem_backend' or 'mem_file_path', not both"),
            ({ } path, null) => path,
            (null, { BackendType: "File" } backend) => backend.BackendPath,
            (null, { BackendType: "Uffd" }) => throw new ApiFaultException("'mem_backend.backend_type' Uffd is not supported by Sharpvisor; use File"),
            (null, { } other) => throw new ApiFaultException($"'mem_backend.backend_type' must be \"File\" or \"Uffd\", not \"{other.BackendType}\""),
        };
        if (request.TrackDirtyPages == true || request.EnableDiffSnapshots == true)
            throw new ApiFaultException("'track_dirty_pages': diff snapshots are not supported by Sharpvisor; leave it out or false");
        if (request.ClockRealtime == true)
            throw new ApiFaultException("'clock_realtime' is not supported by Sharpvisor; the guest clock resumes where it stopped");
        LoadedSnapshot snapshot;
        try
        {
            // Sizes only: the pages load lazily, as the guest touches them (the state itself is checksummed).
            snapshot = SnapshotFilePair.Load(request.SnapshotPath, memory, verifyMemory: false);
        }
        catch (Exception e) when (e is SnapshotException or IOException or UnauthorizedAccessException)
        {
            throw new ApiFaultException($"cannot load the snapshot: {e.Message}");
        }
        var config = snapshot.Manifest.Config with { Serial = SerialSpec.Stdio, HoldInputUntilOutput = null, NoReboot = true };
        Start(config, snapshot, paused: !request.ResumeVm);
        _fromSnapshot = true;
        Resources.AdoptRestored(config, _vm!.Balloon);
        if (Resources.Balloon is { StatsPollingIntervalS: > 0 } polled) PollBalloonStatistics(polled.StatsPollingIntervalS);
    }

    private void Start(VmConfig config, LoadedSnapshot? restore, bool paused)
    {
        bool isLinux = !File.Exists(config.KernelPath) || KernelKind.IsLinux(config.KernelPath);
        var selection = new EngineSelector().Select(EngineChoice.Auto, isLinux);
        log.Info(selection.Explanation);
        if (selection.Engine is null) throw new ApiFaultException($"cannot start the microVM: {selection.Explanation}");
        var backend = SerialBackends.Create(SerialSpec.Stdio, consoleInput, consoleOutput, rawTerminal: false);
        var vm = new Vm(config, selection.Engine, backend) { RestoreFrom = restore, StartPaused = paused, Throttles = CreateThrottles(restore is null) };
        if (restore is null && Resources.Balloon is { } balloon)
            vm.SetBalloonTarget(config.MemoryBytes - ((ulong)balloon.AmountMib << 20));
        var started = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        vm.Started += _ => started.TrySetResult(true);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (bootTimer) WatchBootTime(vm, clock);
        VmRunResult? failure = null;
        var runner = new Thread(() =>
        {
            var result = vm.Run();
            if (started.TrySetResult(false)) failure = result;
            else _ended.TrySetResult(result);
        }) { Name = "microVM", IsBackground = true };
        runner.Start();
        if (!started.Task.GetAwaiter().GetResult())
        {
            runner.Join();
            vm.Dispose();
            throw new ApiFaultException($"cannot start the microVM: {failure!.Message}");
        }
        _vm = vm;
        log.Info($"the microVM {(restore is null ? "started" : "was restored")} in {clock.Elapsed.TotalMilliseconds:0} ms ({(paused ? "paused" : "running")})");
        if (Resources.Balloon is { StatsPollingIntervalS: > 0 } polled) PollBalloonStatistics(polled.StatsPollingIntervalS);
    }

    // Every drive and interface gets a limiter (one without buckets limits nothing), so PATCH can set one later.
    private Vmm.Throttling.IoThrottles CreateThrottles(bool booting)
    {
        var throttles = new Vmm.Throttling.IoThrottles();
        if (!booting) return throttles; // a snapshot names no drive or interface ids
        var drives = Resources.DrivesInGuestOrder;
        for (int i = 0; i < drives.Count; i++)
        {
            var limiter = RateLimiterSpecs.Create(drives[i].RateLimiter);
            _driveLimiters[drives[i].DriveId] = limiter;
            throttles.SetDisk(i, limiter);
        }
        foreach (var nic in Resources.Interfaces)
        {
            var limiters = (RateLimiterSpecs.Create(nic.RxRateLimiter), RateLimiterSpecs.Create(nic.TxRateLimiter));
            _interfaceLimiters[nic.IfaceId] = limiters;
            throttles.SetNetwork(nic.HostDevName, limiters.Item1, limiters.Item2);
        }
        return throttles;
    }

    /// <summary>PATCH /drives/{id} after boot: new rate limiter buckets; a new host file is not supported yet.</summary>
    public void PatchDrive(string? pathId, PartialDrive patch)
    {
        RequireStarted();
        string id = ResourceId.Check(pathId, patch.DriveId, "drive_id");
        var drive = Resources.Drives.FirstOrDefault(d => d.DriveId == id) ?? throw new ApiFaultException($"no drive '{id}' is configured");
        RateLimiterSpecs.Check(patch.RateLimiter, "rate_limiter");
        if (patch.PathOnHost is { } path && path != drive.PathOnHost)
            throw new ApiFaultException("'path_on_host': replacing a running drive's file is not supported by Sharpvisor yet");
        if (patch.RateLimiter is { } limiter)
            Resources.ReplaceDrive(drive with { RateLimiter = RateLimiterSpecs.Patch(_driveLimiters[id], drive.RateLimiter, limiter) });
    }

    /// <summary>PATCH /network-interfaces/{id} after boot: new receive and transmit rate limiter buckets.</summary>
    public void PatchInterface(string? pathId, PartialNetworkInterface patch)
    {
        RequireStarted();
        string id = ResourceId.Check(pathId, patch.IfaceId, "iface_id");
        var nic = Resources.Interfaces.FirstOrDefault(n => n.IfaceId == id) ?? throw new ApiFaultException($"no network interface '{id}' is configured");
        RateLimiterSpecs.Check(patch.RxRateLimiter, "rx_rate_limiter");
        RateLimiterSpecs.Check(patch.TxRateLimiter, "tx_rate_limiter");
        var (rx, tx) = _interfaceLimiters[id];
        Resources.ReplaceInterface(nic with
        {
            RxRateLimiter = patch.RxRateLimiter is { } r ? RateLimiterSpecs.Patch(rx, nic.RxRateLimiter, r) : nic.RxRateLimiter,
            TxRateLimiter = patch.TxRateLimiter is { } t ? RateLimiterSpecs.Patch(tx, nic.TxRateLimiter, t) : nic.TxRateLimiter,
        });
    }

    // --boot-timer: Firecracker logs the time to a guest's magic write; our default guest has its ready line for that.
    private void WatchBootTime(Vm vm, System.Diagnostics.Stopwatch clock)
    {
        byte[] marker = System.Text.Encoding.ASCII.GetBytes(DefaultGuestImage.ReadyLinePrefix);
        int matched = 0;
        vm.SerialOutput += value =>
        {
            if (matched == marker.Length) return;
            matched = value == marker[matched] ? matched + 1 : value == marker[0] ? 1 : 0;
            if (matched == marker.Length) log.Info($"Guest-boot-time = {clock.Elapsed.TotalMicroseconds:0} us (to the guest's {DefaultGuestImage.ReadyLinePrefix} line)");
        };
    }

    public void Pause()
    {
        var vm = RequireStarted();
        if (vm.State is VmState.Paused or VmState.Saved) return; // Firecracker answers 204 to a repeated pause
        try { vm.Pause(); }
        catch (InvalidOperationException e) { throw new ApiFaultException($"cannot pause the microVM: {e.Message}"); }
    }

    public void Resume()
    {
        var vm = RequireStarted();
        if (vm.State == VmState.Running) return;
        try { vm.Resume(); }
        catch (InvalidOperationException e) { throw new ApiFaultException($"cannot resume the microVM: {e.Message}"); }
    }

    public void CreateSnapshot(SnapshotCreateParams request)
    {
        var vm = RequireStarted();
        if (request.SnapshotType is not (null or "Full"))
            throw new ApiFaultException(request.SnapshotType == "Diff"
                ? "'snapshot_type' Diff is not supported by Sharpvisor; our full snapshots store only the pages the guest touched"
                : $"'snapshot_type' must be \"Full\" or \"Diff\", not \"{request.SnapshotType}\"");
        if (vm.State is not (VmState.Paused or VmState.Saved))
            throw new ApiFaultException("the microVM must be paused to create a snapshot (PATCH /vm {\"state\": \"Paused\"})");
        try
        {
            var result = SnapshotFilePair.Save(vm, request.SnapshotPath, request.MemFilePath);
            log.Info($"snapshot written to {request.SnapshotPath} and {request.MemFilePath}: {result.Manifest.Memory.StoredPages} pages in {result.Total.TotalMilliseconds:0} ms");
        }
        catch (Exception e) when (e is SnapshotException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new ApiFaultException($"cannot create the snapshot: {e.Message}");
        }
    }

    /// <summary>
    /// Firecracker's SendCtrlAltDel presses Ctrl-Alt-Del on the i8042 keyboard. Sharpvisor's Vm gets that ability in
    /// Vm.SendCtrlAltDel(); until it is here the call is refused, saying why, rather than pretending.
    /// </summary>
    public void SendCtrlAltDel()
    {
        RequireStarted();
        throw new ApiFaultException("SendCtrlAltDel is not available yet: this build's VMM cannot press Ctrl-Alt-Del on the i8042 keyboard");
    }

    // ---- balloon ----

    public Model.Balloon BalloonConfig()
    {
        var configured = Resources.Balloon ?? throw new ApiFaultException("no balloon device is configured (PUT /balloon before InstanceStart)");
        if (_vm?.Balloon is { } running)
            return configured with { AmountMib = (long)running.TargetPages * Machine.Devices.Virtio.VirtioBalloon.PageSize >> 20 };
        return configured;
    }

    public void UpdateBalloon(BalloonUpdate update)
    {
        var vm = RequireStarted();
        var configured = Resources.Balloon ?? throw new ApiFaultException("no balloon device is configured");
        ulong memory = vm.Config.MemoryBytes;
        if (update.AmountMib < 0 || (ulong)update.AmountMib << 20 > memory)
            throw new ApiFaultException($"'amount_mib' must be 0 to the guest's {memory >> 20} MiB, not {update.AmountMib}");
        try { vm.SetBalloonTarget(memory - ((ulong)update.AmountMib << 20)); }
        catch (InvalidOperationException e) { throw new ApiFaultException(e.Message); }
        Resources.ReplaceBalloon(configured with { AmountMib = update.AmountMib });
    }

    public BalloonStats BalloonStatistics()
    {
        var vm = RequireStarted();
        var configured = Resources.Balloon ?? throw new ApiFaultException("no balloon device is configured");
        if (configured.StatsPollingIntervalS == 0)
            throw new ApiFaultException("balloon statistics are not enabled ('stats_polling_interval_s' was 0 at boot)");
        var balloon = vm.Balloon ?? throw new ApiFaultException("the balloon device is not running");
        var stats = balloon.Statistics;
        ulong? Stat(ushort tag) => stats?[tag];
        const int pagesPerMib = (1 << 20) / Machine.Devices.Virtio.VirtioBalloon.PageSize;
        return new BalloonStats
        {
            TargetPages = balloon.TargetPages, ActualPages = balloon.ActualPages,
            TargetMib = balloon.TargetPages / pagesPerMib, ActualMib = balloon.ActualPages / pagesPerMib,
            SwapIn = Stat(0), SwapOut = Stat(1), MajorFaults = Stat(2), MinorFaults = Stat(3), FreeMemory = Stat(4),
            TotalMemory = Stat(5), AvailableMemory = Stat(6), DiskCaches = Stat(7), HugetlbAllocations = Stat(8), HugetlbFailures = Stat(9),
        };
    }

    public void UpdateBalloonStatistics(BalloonStatsUpdate update)
    {
        RequireStarted();
        var configured = Resources.Balloon ?? throw new ApiFaultException("no balloon device is configured");
        if (configured.StatsPollingIntervalS == 0 || update.StatsPollingIntervalS <= 0)
            throw new ApiFaultException("balloon statistics cannot be turned on or off after boot; 'stats_polling_interval_s' must stay above 0");
        Resources.ReplaceBalloon(configured with { StatsPollingIntervalS = update.StatsPollingIntervalS });
        PollBalloonStatistics(update.StatsPollingIntervalS);
    }

    // The guest sends fresh statistics each time the device hands back its buffer; Firecracker does so every interval.
    private void PollBalloonStatistics(int seconds)
    {
        _statsPolling?.Dispose();
        _statsPolling = new Timer(_ => _vm?.Balloon?.RequestStatistics(), null, TimeSpan.Zero, TimeSpan.FromSeconds(seconds));
    }

    public IReadOnlyDictionary<string, object?> SampleMetrics() => new Dictionary<string, object?>
    {
        ["vmm"] = new Dictionary<string, object?>
        {
            ["state"] = StateName,
            ["guest_resident_bytes"] = _vm?.GuestResidentBytes,
            ["guest_instructions_retired"] = _vm?.GuestInstructionsRetired,
        },
        ["block"] = _driveLimiters.ToDictionary(p => p.Key, p => (object?)LimiterCounters(p.Value)),
        ["net"] = _interfaceLimiters.ToDictionary(p => p.Key, p => (object?)new Dictionary<string, object?>
        {
            ["rx"] = LimiterCounters(p.Value.Rx), ["tx"] = LimiterCounters(p.Value.Tx),
        }),
        ["balloon"] = _vm?.Balloon is { } b
            ? new Dictionary<string, object?> { ["target_pages"] = b.TargetPages, ["actual_pages"] = b.ActualPages, ["pages_returned"] = b.PagesReturned, ["pages_reported"] = b.PagesReported }
            : null,
    };

    private static Dictionary<string, long> LimiterCounters(Machine.Throttling.IoRateLimiter limiter) => new()
    {
        ["operations"] = limiter.Operations, ["bytes"] = limiter.Bytes,
        ["throttled_requests"] = limiter.ThrottledRequests, ["throttled_us"] = limiter.ThrottledMicroseconds,
    };

    /// <summary>Stops a running microVM from outside (SIGTERM, SIGINT); <see cref="Ended"/> then completes.</summary>
    public void Stop(string reason) => _vm?.Stop(reason);

    public void Dispose()
    {
        _statsPolling?.Dispose();
        _vm?.Dispose();
    }
}
