namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>Firecracker's drive resource: a virtio-blk disk on a host file.</summary>
public sealed record Drive
{
    public required string DriveId { get; init; }
    public required bool IsRootDevice { get; init; }
    public string? PathOnHost { get; init; }
    public bool? IsReadOnly { get; init; }
    public string? Partuuid { get; init; }
    public string? CacheType { get; init; }
    public string? IoEngine { get; init; }
    public RateLimiter? RateLimiter { get; init; }
    public string? Socket { get; init; }
}
