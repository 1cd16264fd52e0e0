namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PATCH /network-interfaces/{id} after boot: new rate limiters.</summary>
public sealed record PartialNetworkInterface
{
    public required string IfaceId { get; init; }
    public RateLimiter? RxRateLimiter { get; init; }
    public RateLimiter? TxRateLimiter { get; init; }
}
