using System.Diagnostics;

namespace Sharpvisor.Machine.Throttling;

/// <summary>
/// One bucket's state. A consumer takes what it needs at once, going into debt if the budget is short, and then waits
/// the time the refill rate needs to pay the debt back: over a long run, N tokens take N / rate, less the initial
/// budget and burst. The clock is passed in (Stopwatch ticks), so the arithmetic is checked without sleeping.
/// </summary>
public sealed class TokenBucket(TokenBucketSpec spec, long nowTicks)
{
    private double _budget = spec.Size;
    private long _burst = spec.OneTimeBurst;
    private long _lastTicks = nowTicks;

    public TokenBucketSpec Spec => spec;

    /// <summary>Takes <paramref name="tokens"/>; returns how long the caller must wait before its I/O goes ahead.</summary>
    public TimeSpan Consume(long tokens, long nowTicks)
    {
        if (!spec.Limits || tokens <= 0) return TimeSpan.Zero;
        double perTick = (double)spec.Size / (spec.RefillTimeMs * (Stopwatch.Frequency / 1000.0));
        _budget = Math.Min(spec.Size, _budget + (nowTicks - _lastTicks) * perTick);
        _lastTicks = nowTicks;
        long fromBurst = Math.Min(_burst, tokens);
        _burst -= fromBurst;
        _budget -= tokens - fromBurst;
        return _budget >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_budget / perTick / Stopwatch.Frequency);
    }
}
