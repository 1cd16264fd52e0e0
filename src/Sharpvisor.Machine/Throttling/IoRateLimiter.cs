using System.Diagnostics;

namespace Sharpvisor.Machine.Throttling;

/// <summary>
/// A device's rate limiter: a bandwidth bucket (bytes) and an operations bucket, either optional, replaceable while the
/// device runs (Firecracker's PATCH). <see cref="Throttle"/> is called on the device's I/O thread before each request
/// and sleeps as long as the buckets say, unless the device stops meanwhile (its token). One limiter may serve the
/// devices of successive boots.
/// </summary>
public sealed class IoRateLimiter
{
    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(100);
    private readonly Lock _lock = new();
    private TokenBucket? _bandwidth, _ops;
    private long _throttled, _throttledMicroseconds, _bytes, _operations;

    public IoRateLimiter(TokenBucketSpec? bandwidth, TokenBucketSpec? ops) => Update(bandwidth, ops);

    public TokenBucketSpec? Bandwidth { get { lock (_lock) return _bandwidth?.Spec; } }
    public TokenBucketSpec? Ops { get { lock (_lock) return _ops?.Spec; } }

    /// <summary>Requests that had to wait, and for how long in all.</summary>
    public long ThrottledRequests => Interlocked.Read(ref _throttled);
    public long ThrottledMicroseconds => Interlocked.Read(ref _throttledMicroseconds);
    public long Bytes => Interlocked.Read(ref _bytes);
    public long Operations => Interlocked.Read(ref _operations);

    /// <summary>New buckets, full (as a newly configured limiter starts); null leaves that kind unlimited.</summary>
    public void Update(TokenBucketSpec? bandwidth, TokenBucketSpec? ops)
    {
        long now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            _bandwidth = bandwidth is { Limits: true } ? new TokenBucket(bandwidth, now) : null;
            _ops = ops is { Limits: true } ? new TokenBucket(ops, now) : null;
        }
    }

    /// <summary>Accounts one operation of <paramref name="bytes"/> bytes and waits until the buckets allow it.</summary>
    public void Throttle(long bytes, CancellationToken stop = default)
    {
        Interlocked.Increment(ref _operations);
        Interlocked.Add(ref _bytes, bytes);
        TimeSpan wait;
        long now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            var forBytes = _bandwidth?.Consume(bytes, now) ?? TimeSpan.Zero;
            var forOps = _ops?.Consume(1, now) ?? TimeSpan.Zero;
            wait = forBytes > forOps ? forBytes : forOps;
        }
        if (wait <= TimeSpan.Zero) return;
        Interlocked.Increment(ref _throttled);
        Interlocked.Add(ref _throttledMicroseconds, (long)wait.TotalMicroseconds);
        // In slices, so that a device that is stopped does not wait out a long debt.
        var until = Stopwatch.GetTimestamp() + (long)(wait.TotalSeconds * Stopwatch.Frequency);
        while (!stop.IsCancellationRequested)
        {
            long left = until - Stopwatch.GetTimestamp();
            if (left <= 0) return;
            var step = TimeSpan.FromSeconds((double)left / Stopwatch.Frequency);
            Thread.Sleep(step < Slice ? step : Slice);
        }
    }
}
