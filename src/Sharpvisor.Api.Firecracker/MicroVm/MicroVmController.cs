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
    private bool _fromSnapshot;
    private readonly DeviceRateLimiters _limiters = new();

    public MicroVmResources Resources { get; } = new();

    /// <summary>MMDS's data store: set through the API, read by the guest through the interfaces /mmds/config names.</summary>
    public MmdsDataStore Mmds { get; } = new();

    /// <summary>The balloon's API calls (its configuration, size and statistics).</summary>
    public MicroVmBalloon Balloon => _balloon ??= new MicroVmBalloon(Resources, () => _vm, RequireStarted);

    private MicroVmBalloon? _balloon;
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
        Balloon.StartPolling();
    }

    private void Start(VmConfig config, LoadedSnapshot? restore, bool paused)
    {
        bool isLinux = !File.Exists(config.KernelPath) || KernelKind.IsLinux(config.KernelPath);
        var selection = new EngineSelector().Select(EngineChoice.Auto, isLinux);
        log.Info(selection.Explanation);
        if (selection.Engine is null) throw new ApiFaultException($"cannot start the microVM: {selection.Explanation}");
        var backend = SerialBackends.Create(SerialSpec.Stdio, consoleInput, consoleOutput, rawTerminal: false);
        var vm = new Vm(config, selection.Engine, backend) { RestoreFrom = restore, StartPaused = paused, Throttles = restore is null ? _limiters.CreateFor(Resources) : new(),
            Metadata = restore is null ? Resources.ToMetadataService(Mmds) : null };
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
        Balloon.StartPolling();
    }

    /// <summary>PATCH /drives/{id} after boot: new rate limiter buckets; a new host file is not supported yet.</summary>
    public void PatchDrive(string? pathId, PartialDrive patch)
    {
        RequireStarted();
        _limiters.PatchDrive(Resources, pathId, patch);
    }

    /// <summary>PATCH /network-interfaces/{id} after boot: new receive and transmit rate limiter buckets.</summary>
    public void PatchInterface(string? pathId, PartialNetworkInterface patch)
    {
        RequireStarted();
        _limiters.PatchInterface(Resources, pathId, patch);
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

    /// <summary>Firecracker's SendCtrlAltDel: Ctrl-Alt-Del typed on the i8042 keyboard (the guest decides what it means).</summary>
    public void SendCtrlAltDel()
    {
        var vm = RequireStarted();
        try { vm.SendCtrlAltDel(); }
        catch (InvalidOperationException e) { throw new ApiFaultException($"cannot send Ctrl-Alt-Del: {e.Message}"); }
    }

    public IReadOnlyDictionary<string, object?> SampleMetrics() => new Dictionary<string, object?>
    {
        ["vmm"] = new Dictionary<string, object?>
        {
            ["state"] = StateName,
            ["guest_resident_bytes"] = _vm?.GuestResidentBytes,
            ["guest_instructions_retired"] = _vm?.GuestInstructionsRetired,
        },
        ["block"] = _limiters.DriveCounters(),
        ["net"] = _limiters.InterfaceCounters(),
        ["balloon"] = _vm?.Balloon is { } b
            ? new Dictionary<string, object?> { ["target_pages"] = b.TargetPages, ["actual_pages"] = b.ActualPages, ["pages_returned"] = b.PagesReturned, ["pages_reported"] = b.PagesReported }
            : null,
    };

    /// <summary>Stops a running microVM from outside (SIGTERM, SIGINT); <see cref="Ended"/> then completes.</summary>
    public void Stop(string reason) => _vm?.Stop(reason);

    public void Dispose()
    {
        _balloon?.Dispose();
        _vm?.Dispose();
    }
}
