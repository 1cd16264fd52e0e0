namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>Firecracker's network-interface resource: a virtio-net device on a host tap.</summary>
public sealed record NetworkInterface
{
    public required string IfaceId { get; init; }
    public required string HostDevName { get; init; }
    public string? GuestMac { get; init; }
    public int? Mtu { get; init; }
    public RateLimiter? RxRateLimiter { get; init; }
    public RateLimiter? TxRateLimiter { get; init; }
}
