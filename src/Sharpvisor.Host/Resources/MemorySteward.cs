using System.Globalization;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Host.Resources;

/// <summary>
/// The daemon's memory steward: every <see cref="HostDaemonOptions.ResourceInterval"/> it tunes KSM for the VMs that
/// ask for it (<see cref="KsmTuner"/>) and sizes the balloons of running VMs against the host's memory use
/// (<see cref="BalloonPolicy"/>). The host's use is its reserve (what the host itself takes) plus the resident memory
/// of this daemon's VMMs; the target is <see cref="HostDaemonOptions.BalloonTargetFraction"/> of its capacity.
/// </summary>
public sealed class MemorySteward : IDisposable
{
    public const string KsmSysfs = "/sys/kernel/mm/ksm";
    private static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(5);
    private readonly InstanceManager _manager;
    private readonly HostDaemonOptions _options;
    private readonly Action<string> _say;
    private KsmTuner? _ksm;   // null where KSM is missing or cannot be written (a daemon not run as root)
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public MemorySteward(InstanceManager manager, Action<string> say)
    {
        _manager = manager;
        _options = manager.Options;
        _say = say;
        if (KsmTuner.Available(KsmSysfs)) _ksm = new KsmTuner(KsmSysfs, Path.Combine(_options.Paths.StateDirectory, "ksm-found"));
    }

    public void Start() => _loop = Task.Run(LoopAsync);

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try { await StepAsync().ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                _say($"memory steward: {e.Message}");
            }
            try { await Task.Delay(_options.ResourceInterval, _stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>One round: KSM, then balloons.</summary>
    public async Task StepAsync()
    {
        var vms = _manager.RunningVmms();
        try
        {
            if (_ksm?.Step(vms.Any(v => v.Definition.Ksm)) is { } ksmSaid) _say(ksmSaid);
        }
        catch (UnauthorizedAccessException e)
        {
            _say($"memory steward: KSM is left alone from now on: {e.Message}");   // said once, not every round
            _ksm = null;
        }

        ulong used = _options.Capacity.ReservedMemoryBytes;
        foreach (var vm in vms) used += ProcessIdentity.Usage(vm.Pid)?.ResidentBytes ?? 0;
        ulong target = (ulong)(_options.Capacity.MemoryBytes * _options.BalloonTargetFraction);
        var ballooned = new List<BalloonedVm>();
        foreach (var vm in vms.Where(v => v.Definition.Balloon))
            if (await SampleAsync(vm).ConfigureAwait(false) is { } sample) ballooned.Add(sample);
        foreach (var change in BalloonPolicy.Decide(used, target, ballooned))
        {
            var vm = vms.First(v => v.Definition.Name == change.Name);
            try { await VmmControl.SendAsync(vm.ControlSocket, $"balloon {change.KeepBytes / 1024}K", ControlTimeout).ConfigureAwait(false); }
            catch (VmmControlException) { continue; }  // it ended or paused since it was sampled: next round
            string verb = change.Inflates ? "inflated" : "deflated";
            _manager.Events.Publish("resources", $"balloon-{verb}", change.Name, "running",
                $"balloon {verb}: the guest keeps {change.KeepBytes >> 20} of {vm.Definition.MemoryBytes >> 20} MiB (was {change.FromBytes >> 20}); " +
                $"host use {used >> 20} MiB against a target of {target >> 20} MiB");
        }
    }

    // The balloon's statistics through the control socket; null when the VMM does not answer (it is going away).
    private static async Task<BalloonedVm?> SampleAsync(InstanceManager.RunningVmm vm)
    {
        string reply;
        try { reply = await VmmControl.SendAsync(vm.ControlSocket, "balloon stats", ControlTimeout).ConfigureAwait(false); }
        catch (VmmControlException) { return null; }
        var fields = reply.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Split('=', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1]);
        ulong Field(string key) => ulong.Parse(fields[key], CultureInfo.InvariantCulture);
        ulong memory = vm.Definition.MemoryBytes;
        ulong keep = memory - Math.Min(memory, Field("target-bytes"));
        ulong? available = fields.ContainsKey("stat-available-memory") ? Field("stat-available-memory") : null;
        return new BalloonedVm(vm.Definition.Name, memory, vm.Definition.BalloonFloorBytes, keep, available);
    }

    /// <summary>Stops the rounds. KSM is put back only when no VM wants it: VMs outlive the daemon, and the next one
    /// takes KSM over from the file the tuner kept.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        try { _loop.Wait(TimeSpan.FromSeconds(10)); }
        catch (AggregateException) { }
        try
        {
            if (_ksm is { Engaged: true } && !_manager.RunningVmms().Any(v => v.Definition.Ksm)) _say(_ksm.Release());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { _say($"memory steward: {e.Message}"); }
        _stop.Dispose();
    }
}
