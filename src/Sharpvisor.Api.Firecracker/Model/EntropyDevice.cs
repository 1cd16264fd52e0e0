namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PUT /entropy: a virtio-rng device, optionally rate limited.</summary>
public sealed record EntropyDevice
{
    public RateLimiter? RateLimiter { get; init; }
}
