namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>Firecracker's balloon resource: how many MiB the balloon takes from the guest, and statistics polling.</summary>
public sealed record Balloon
{
    public required long AmountMib { get; init; }
    public required bool DeflateOnOom { get; init; }
    public int StatsPollingIntervalS { get; init; }
    public bool? FreePageHinting { get; init; }
    public bool? FreePageReporting { get; init; }
}
