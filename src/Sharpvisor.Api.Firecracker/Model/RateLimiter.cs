namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>A rate limiter: a bytes-per-second bucket and an operations-per-second bucket, each optional.</summary>
public sealed record RateLimiter
{
    public TokenBucket? Bandwidth { get; init; }
    public TokenBucket? Ops { get; init; }
}
