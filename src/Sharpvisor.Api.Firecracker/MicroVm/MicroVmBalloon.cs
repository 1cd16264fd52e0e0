using Sharpvisor.Api.Firecracker.Http;
using Sharpvisor.Api.Firecracker.Model;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>
/// The balloon as Firecracker's API shows it: amount_mib is what the balloon takes from the guest (the VMM's target
/// is what the guest keeps), statistics are the guest's latest, fetched every stats_polling_interval_s.
/// </summary>
public sealed class MicroVmBalloon(MicroVmResources resources, Func<Vm?> running, Func<Vm> requireStarted) : IDisposable
{
    private const int PagesPerMib = (1 << 20) / VirtioBalloon.PageSize;
    private Timer? _statsPolling;

    public Model.Balloon Config()
    {
        var configured = resources.Balloon ?? throw new ApiFaultException("no balloon device is configured (PUT /balloon before InstanceStart)");
        return running()?.Balloon is { } device ? configured with { AmountMib = device.TargetPages / PagesPerMib } : configured;
    }

    public void Update(BalloonUpdate update)
    {
        var vm = requireStarted();
        var configured = resources.Balloon ?? throw new ApiFaultException("no balloon device is configured");
        ulong memory = vm.Config.MemoryBytes;
        if (update.AmountMib < 0 || (ulong)update.AmountMib << 20 > memory)
            throw new ApiFaultException($"'amount_mib' must be 0 to the guest's {memory >> 20} MiB, not {update.AmountMib}");
        try { vm.SetBalloonTarget(memory - ((ulong)update.AmountMib << 20)); }
        catch (InvalidOperationException e) { throw new ApiFaultException(e.Message); }
        resources.ReplaceBalloon(configured with { AmountMib = update.AmountMib });
    }

    public BalloonStats Statistics()
    {
        var vm = requireStarted();
        var configured = resources.Balloon ?? throw new ApiFaultException("no balloon device is configured");
        if (configured.StatsPollingIntervalS == 0)
            throw new ApiFaultException("balloon statistics are not enabled ('stats_polling_interval_s' was 0 at boot)");
        var device = vm.Balloon ?? throw new ApiFaultException("the balloon device is not running");
        var stats = device.Statistics;
        ulong? Stat(ushort tag) => stats?[tag];
        return new BalloonStats
        {
            TargetPages = device.TargetPages, ActualPages = device.ActualPages,
            TargetMib = device.TargetPages / PagesPerMib, ActualMib = device.ActualPages / PagesPerMib,
            SwapIn = Stat(VirtioBalloonStatistics.SwapIn), SwapOut = Stat(VirtioBalloonStatistics.SwapOut),
            MajorFaults = Stat(VirtioBalloonStatistics.MajorFaults), MinorFaults = Stat(VirtioBalloonStatistics.MinorFaults),
            FreeMemory = Stat(VirtioBalloonStatistics.MemoryFree), TotalMemory = Stat(VirtioBalloonStatistics.MemoryTotal),
            AvailableMemory = Stat(VirtioBalloonStatistics.MemoryAvailable), DiskCaches = Stat(VirtioBalloonStatistics.DiskCaches),
            HugetlbAllocations = Stat(VirtioBalloonStatistics.HugetlbAllocations), HugetlbFailures = Stat(VirtioBalloonStatistics.HugetlbFailures),
        };
    }

    public void UpdateStatistics(BalloonStatsUpdate update)
    {
        requireStarted();
        var configured = resources.Balloon ?? throw new ApiFaultException("no balloon device is configured");
        if (configured.StatsPollingIntervalS == 0 || update.StatsPollingIntervalS <= 0)
            throw new ApiFaultException("balloon statistics cannot be turned on or off after boot; 'stats_polling_interval_s' must stay above 0");
        resources.ReplaceBalloon(configured with { StatsPollingIntervalS = update.StatsPollingIntervalS });
        StartPolling();
    }

    /// <summary>
    /// The guest sends fresh statistics each time the device hands back its buffer; Firecracker does so every interval.
    /// Nothing happens without a balloon whose interval is above 0.
    /// </summary>
    public void StartPolling()
    {
        if (resources.Balloon is not { StatsPollingIntervalS: > 0 } balloon) return;
        _statsPolling?.Dispose();
        _statsPolling = new Timer(_ => running()?.Balloon?.RequestStatistics(), null, TimeSpan.Zero, TimeSpan.FromSeconds(balloon.StatsPollingIntervalS));
    }

    public void Dispose() => _statsPolling?.Dispose();
}
