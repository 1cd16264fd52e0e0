namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>GET /balloon/statistics: the balloon's size and the guest's latest memory statistics (absent until it sent them).</summary>
public sealed record BalloonStats
{
    public required long TargetPages { get; init; }
    public required long ActualPages { get; init; }
    public required long TargetMib { get; init; }
    public required long ActualMib { get; init; }
    public ulong? SwapIn { get; init; }
    public ulong? SwapOut { get; init; }
    public ulong? MajorFaults { get; init; }
    public ulong? MinorFaults { get; init; }
    public ulong? FreeMemory { get; init; }
    public ulong? TotalMemory { get; init; }
    public ulong? AvailableMemory { get; init; }
    public ulong? DiskCaches { get; init; }
    public ulong? HugetlbAllocations { get; init; }
    public ulong? HugetlbFailures { get; init; }
}
