using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// What a <see cref="VirtioBalloon"/> holds beyond its transport's state: the host's target, the driver's reported
/// size, the statistics buffer the device keeps until it wants fresh figures, the latest figures and the counters.
/// Restore it after the transport (<see cref="VirtioPciDevice.RestoreState"/> resets the model).
/// </summary>
public sealed record VirtioBalloonState : IDeviceState
{
    public static int CurrentVersion => 1;

    public uint TargetPages { get; init; }
    public uint ActualPages { get; init; }
    /// <summary>Head of the statistics chain the device holds back, or -1.</summary>
    public int HeldStatisticsHead { get; init; } = -1;
    public long StatisticsSequence { get; init; }
    /// <summary>The latest statistics by tag, or null if none arrived.</summary>
    public Dictionary<ushort, ulong>? Statistics { get; init; }
    public DateTimeOffset? StatisticsReceivedAt { get; init; }
    public long PagesInflated { get; init; }
    public long PagesDeflated { get; init; }
    public long PagesReported { get; init; }
    public long BadPageNumbers { get; init; }
}
