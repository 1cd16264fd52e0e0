namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PATCH /balloon/statistics: a new polling interval (statistics cannot be turned on or off after boot).</summary>
public sealed record BalloonStatsUpdate
{
    public required int StatsPollingIntervalS { get; init; }
}
