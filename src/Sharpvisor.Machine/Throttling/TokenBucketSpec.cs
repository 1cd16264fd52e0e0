namespace Sharpvisor.Machine.Throttling;

/// <summary>
/// A token bucket as configured: <see cref="Size"/> tokens (bytes or operations) that refill from empty in
/// <see cref="RefillTimeMs"/>, plus <see cref="OneTimeBurst"/> tokens spent first and never refilled. A size or refill
/// time of 0 means no limit.
/// </summary>
public sealed record TokenBucketSpec(long Size, long RefillTimeMs, long OneTimeBurst = 0)
{
    public bool Limits => Size > 0 && RefillTimeMs > 0;
}
