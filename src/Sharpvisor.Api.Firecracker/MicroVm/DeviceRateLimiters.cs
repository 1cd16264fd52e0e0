using Sharpvisor.Api.Firecracker.Http;
using Sharpvisor.Api.Firecracker.Model;
using Sharpvisor.Machine.Throttling;
using Sharpvisor.Vmm.Throttling;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>
/// The running limiters of the microVM's drives and interfaces, by API id: made at InstanceStart from their
/// rate_limiter fields, changed by PATCH, counted in the metrics.
/// </summary>
public sealed class DeviceRateLimiters
{
    private readonly Dictionary<string, IoRateLimiter> _drives = [];
    private readonly Dictionary<string, (IoRateLimiter Rx, IoRateLimiter Tx)> _interfaces = [];

    /// <summary>Every drive and interface gets a limiter (one without buckets limits nothing), so PATCH can set one later.</summary>
    public IoThrottles CreateFor(MicroVmResources resources)
    {
        var throttles = new IoThrottles();
        var drives = resources.DrivesInGuestOrder;
        for (int i = 0; i < drives.Count; i++)
        {
            var limiter = RateLimiterSpecs.Create(drives[i].RateLimiter);
            _drives[drives[i].DriveId] = limiter;
            throttles.SetDisk(i, limiter);
        }
        foreach (var nic in resources.Interfaces)
        {
            var (rx, tx) = (RateLimiterSpecs.Create(nic.RxRateLimiter), RateLimiterSpecs.Create(nic.TxRateLimiter));
            _interfaces[nic.IfaceId] = (rx, tx);
            throttles.SetNetwork(nic.HostDevName, rx, tx);
        }
        return throttles;
    }

    public void PatchDrive(MicroVmResources resources, string? pathId, PartialDrive patch)
    {
        string id = ResourceId.Check(pathId, patch.DriveId, "drive_id");
        var drive = resources.Drives.FirstOrDefault(d => d.DriveId == id) ?? throw new ApiFaultException($"no drive '{id}' is configured");
        RateLimiterSpecs.Check(patch.RateLimiter, "rate_limiter");
        if (patch.PathOnHost is { } path && path != drive.PathOnHost)
            throw new ApiFaultException("'path_on_host': replacing a running drive's file is not supported by Sharpvisor yet");
        if (patch.RateLimiter is { } limiter)
            resources.ReplaceDrive(drive with { RateLimiter = RateLimiterSpecs.Patch(Running(_drives, id), drive.RateLimiter, limiter) });
    }

    public void PatchInterface(MicroVmResources resources, string? pathId, PartialNetworkInterface patch)
    {
        string id = ResourceId.Check(pathId, patch.IfaceId, "iface_id");
        var nic = resources.Interfaces.FirstOrDefault(n => n.IfaceId == id) ?? throw new ApiFaultException($"no network interface '{id}' is configured");
        RateLimiterSpecs.Check(patch.RxRateLimiter, "rx_rate_limiter");
        RateLimiterSpecs.Check(patch.TxRateLimiter, "tx_rate_limiter");
        var (rx, tx) = Running(_interfaces, id);
        resources.ReplaceInterface(nic with
        {
            RxRateLimiter = patch.RxRateLimiter is { } r ? RateLimiterSpecs.Patch(rx, nic.RxRateLimiter, r) : nic.RxRateLimiter,
            TxRateLimiter = patch.TxRateLimiter is { } t ? RateLimiterSpecs.Patch(tx, nic.TxRateLimiter, t) : nic.TxRateLimiter,
        });
    }

    // A microVM restored from a snapshot has resources without ids to match: nothing to patch.
    private static T Running<T>(Dictionary<string, T> limiters, string id) =>
        limiters.TryGetValue(id, out var limiter) ? limiter : throw new ApiFaultException($"'{id}' has no running rate limiter");

    public Dictionary<string, object?> DriveCounters() => _drives.ToDictionary(p => p.Key, p => (object?)Counters(p.Value));

    public Dictionary<string, object?> InterfaceCounters() =>
        _interfaces.ToDictionary(p => p.Key, p => (object?)new Dictionary<string, object?> { ["rx"] = Counters(p.Value.Rx), ["tx"] = Counters(p.Value.Tx) });

    private static Dictionary<string, long> Counters(IoRateLimiter limiter) => new()
    {
        ["operations"] = limiter.Operations, ["bytes"] = limiter.Bytes,
        ["throttled_requests"] = limiter.ThrottledRequests, ["throttled_us"] = limiter.ThrottledMicroseconds,
    };
}
