using System.Diagnostics;
using Sharpvisor.Machine.Throttling;

namespace Sharpvisor.Machine.Tests.Throttling;

/// <summary>The bucket's arithmetic on a clock the test moves (Stopwatch ticks), so nothing sleeps.</summary>
public sealed class TokenBucketTests
{
    private static long Ticks(double seconds) => (long)(seconds * Stopwatch.Frequency);

    [Fact]
    public void A_full_bucket_serves_its_size_at_once_and_then_charges_the_refill_time()
    {
        var bucket = new TokenBucket(new TokenBucketSpec(Size: 1000, RefillTimeMs: 1000), Ticks(10));
        Assert.Equal(TimeSpan.Zero, bucket.Consume(1000, Ticks(10)));
        Assert.Equal(0.5, bucket.Consume(500, Ticks(10)).TotalSeconds, 3);
        // One second later the debt of 500 is paid and 500 more came in: 500 goes through without a wait.
        Assert.Equal(TimeSpan.Zero, bucket.Consume(500, Ticks(11)));
        Assert.Equal(0.25, bucket.Consume(250, Ticks(11)).TotalSeconds, 3);
    }

    [Fact]
    public void The_one_time_burst_is_spent_first_and_never_refills()
    {
        var bucket = new TokenBucket(new TokenBucketSpec(Size: 1000, RefillTimeMs: 1000, OneTimeBurst: 2000), 0);
        Assert.Equal(TimeSpan.Zero, bucket.Consume(2500, 0)); // 2000 from the burst, 500 of the budget
        Assert.Equal(0.5, bucket.Consume(1000, 0).TotalSeconds, 3);
        // Long after, the budget is back to its size (1000), not more: the burst does not come back.
        Assert.Equal(TimeSpan.Zero, bucket.Consume(1000, Ticks(100)));
        Assert.Equal(1.0, bucket.Consume(1000, Ticks(100)).TotalSeconds, 3);
    }

    [Fact]
    public void Over_a_long_transfer_the_time_is_what_the_rate_allows_beyond_the_first_bucket()
    {
        // 1 MiB/s (256 KiB every 250 ms); 16 MiB in 64 KiB requests, each waiting what the bucket says.
        var bucket = new TokenBucket(new TokenBucketSpec(Size: 256 << 10, RefillTimeMs: 250), 0);
        double now = 0;
        for (int i = 0; i < 256; i++) now += bucket.Consume(64 << 10, Ticks(now)).TotalSeconds;
        Assert.Equal(16 - 0.25, now, 2);
    }

    [Theory]
    [InlineData(0, 1000)]
    [InlineData(1000, 0)]
    public void A_size_or_refill_time_of_zero_limits_nothing(long size, long refillMs)
    {
        var bucket = new TokenBucket(new TokenBucketSpec(size, refillMs), 0);
        for (int i = 0; i < 10; i++) Assert.Equal(TimeSpan.Zero, bucket.Consume(1 << 30, 0));
    }

    [Fact]
    public async Task A_limiter_counts_and_a_stopped_device_does_not_wait_out_its_debt()
    {
        var limiter = new IoRateLimiter(new TokenBucketSpec(1000, 1000), ops: null);
        limiter.Throttle(1000);
        Assert.Equal(0, limiter.ThrottledRequests);
        using var stopped = new CancellationTokenSource();
        stopped.Cancel();
        var waiting = Task.Run(() => limiter.Throttle(3_600_000, stopped.Token)); // an hour's debt
        await waiting.WaitAsync(TimeSpan.FromSeconds(30)); // a TimeoutException if the throttle did not end when its device stopped
        Assert.Equal(1, limiter.ThrottledRequests);
        Assert.Equal(2, limiter.Operations);
        Assert.Equal(3_601_000, limiter.Bytes);
        limiter.Update(bandwidth: null, ops: new TokenBucketSpec(5, 1000));
        Assert.Null(limiter.Bandwidth);
        Assert.Equal(5, limiter.Ops!.Size);
    }
}
