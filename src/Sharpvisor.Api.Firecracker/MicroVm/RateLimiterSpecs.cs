using Sharpvisor.Api.Firecracker.Http;
using Sharpvisor.Api.Firecracker.Model;
using Sharpvisor.Machine.Throttling;
using TokenBucket = Sharpvisor.Api.Firecracker.Model.TokenBucket;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>The API's rate_limiter objects checked and turned into the machine's token buckets.</summary>
public static class RateLimiterSpecs
{
    /// <summary>Refuses negative numbers, naming the field (e.g. 'rate_limiter.bandwidth.size').</summary>
    public static void Check(RateLimiter? limiter, string field)
    {
        Check(limiter?.Bandwidth, $"{field}.bandwidth");
        Check(limiter?.Ops, $"{field}.ops");
    }

    private static void Check(TokenBucket? bucket, string field)
    {
        if (bucket is null) return;
        if (bucket.Size < 0) throw new ApiFaultException($"'{field}.size' must not be negative");
        if (bucket.RefillTime < 0) throw new ApiFaultException($"'{field}.refill_time' must not be negative");
        if (bucket.OneTimeBurst < 0) throw new ApiFaultException($"'{field}.one_time_burst' must not be negative");
    }

    public static TokenBucketSpec? ToSpec(TokenBucket? bucket) =>
        bucket is null ? null : new TokenBucketSpec(bucket.Size, bucket.RefillTime, bucket.OneTimeBurst ?? 0);

    /// <summary>A limiter for a device; without a rate_limiter it limits nothing, until a PATCH gives it buckets.</summary>
    public static IoRateLimiter Create(RateLimiter? limiter) => new(ToSpec(limiter?.Bandwidth), ToSpec(limiter?.Ops));

    /// <summary>PATCH: a bucket given replaces the old one (size 0 lifts the limit), a bucket left out stays.</summary>
    public static RateLimiter Patch(IoRateLimiter running, RateLimiter? current, RateLimiter patch)
    {
        var merged = new RateLimiter { Bandwidth = patch.Bandwidth ?? current?.Bandwidth, Ops = patch.Ops ?? current?.Ops };
        running.Update(ToSpec(merged.Bandwidth), ToSpec(merged.Ops));
        return merged;
    }
}
