namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>One token bucket of a rate limiter: capacity, a one-time burst and the time to refill, in ms.</summary>
public sealed record TokenBucket
{
    public required long Size { get; init; }
    public long? OneTimeBurst { get; init; }
    public required long RefillTime { get; init; }
}
