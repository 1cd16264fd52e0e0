using Sharpvisor.Machine.Throttling;

namespace Sharpvisor.Vmm.Throttling;

/// <summary>
/// The rate limiters a VM's front end set on its disks (by index: vda is 0) and network interfaces (by tap, receive and
/// transmit). They outlive a boot, as the front end changes them while the VM runs; each boot's devices use them.
/// Snapshots do not carry them: a restored VM gets the ones its front end sets.
/// </summary>
public sealed class IoThrottles
{
    private readonly Dictionary<int, IoRateLimiter> _disks = [];
    private readonly Dictionary<string, (IoRateLimiter? Rx, IoRateLimiter? Tx)> _networks = [];

    public void SetDisk(int index, IoRateLimiter limiter)
    {
        lock (_disks) _disks[index] = limiter;
    }

    public IoRateLimiter? ForDisk(int index)
    {
        lock (_disks) return _disks.GetValueOrDefault(index);
    }

    public void SetNetwork(string tap, IoRateLimiter? rx, IoRateLimiter? tx)
    {
        lock (_networks) _networks[tap] = (rx, tx);
    }

    public (IoRateLimiter? Rx, IoRateLimiter? Tx) ForNetwork(string tap)
    {
        lock (_networks) return _networks.GetValueOrDefault(tap);
    }
}
