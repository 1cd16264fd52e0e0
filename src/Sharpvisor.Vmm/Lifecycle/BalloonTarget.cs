using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// The balloon's target in pages, kept by the VM across reboots as QEMU keeps it: each boot's driver inflates to it
/// again; a restored or migrated machine brings its own along.
/// </summary>
internal sealed class BalloonTarget(VmConfig config)
{
    private volatile uint _pages;

    /// <summary>
    /// Leaves the guest <paramref name="guestBytes"/> of its RAM: the target becomes the rest, in 4 KiB pages, and the
    /// running boot's driver (if any) gets a configuration interrupt.
    /// </summary>
    public void Set(ulong guestBytes, VirtioBalloon? running)
    {
        if (!config.BalloonDevice) throw new InvalidOperationException("the VM has no balloon device (run it with --balloon)");
        if (guestBytes > config.MemoryBytes)
            throw new InvalidOperationException($"the guest has {MemorySize.Format(config.MemoryBytes)}; it cannot keep more");
        _pages = (uint)((config.MemoryBytes - guestBytes) / VirtioBalloon.PageSize);
        running?.SetTargetPages(_pages);
    }

    /// <summary>A new boot's balloon gets the kept target; a machine that carried its state keeps the one it brought.</summary>
    public void ApplyTo(VirtioBalloon? balloon, bool carriedState)
    {
        if (carriedState) _pages = balloon?.TargetPages ?? 0;
        else balloon?.SetTargetPages(_pages);
    }
}
