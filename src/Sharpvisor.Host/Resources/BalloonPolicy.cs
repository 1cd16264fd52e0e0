namespace Sharpvisor.Host.Resources;

/// <summary>One running VM with a balloon, as the daemon sees it at a step: its size, its floor, what the balloon
/// lets it keep now and what its guest reports available (null until the driver has sent statistics).</summary>
public readonly record struct BalloonedVm(string Name, ulong MemoryBytes, ulong MinimumBytes, ulong KeepBytes, ulong? AvailableBytes);

/// <summary>A new balloon size for one VM: the guest keeps <see cref="KeepBytes"/>.</summary>
public readonly record struct BalloonChange(string Name, ulong KeepBytes, ulong FromBytes)
{
    public bool Inflates => KeepBytes < FromBytes;
}

/// <summary>
/// Automatic ballooning as Proxmox's pvestatd does it, one step at a time: above the target the VMs with the most
/// available memory give some back (at most <see cref="StepBytes"/> each per step, never below their minimum, and
/// never what their guest is using); once the host is back under the target less a margin, balloons deflate, the most
/// inflated first, by as much as the room under the target allows. Pure: the steward feeds it and applies its answer.
/// </summary>
public static class BalloonPolicy
{
    /// <summary>Proxmox's figure: 100 MiB per VM per step, so a guest has time to give pages back without stalls.</summary>
    public const ulong StepBytes = 100UL << 20;
    /// <summary>What a guest keeps available beyond the balloon's take: its page cache and a burst of allocations.</summary>
    public const ulong GuestHeadroomBytes = 32UL << 20;
    /// <summary>Deflating starts this far below the target, so a step that frees memory does not undo itself next time.</summary>
    public const double DeflateBelow = 0.90;
    private const ulong Page = 4096, Smallest = 4UL << 20;   // changes under 4 MiB are not worth the guest's work

    public static IReadOnlyList<BalloonChange> Decide(ulong usedBytes, ulong targetBytes, IReadOnlyList<BalloonedVm> vms)
    {
        var changes = new List<BalloonChange>();
        if (usedBytes > targetBytes)
        {
            ulong need = usedBytes - targetBytes;
            foreach (var vm in vms.Where(v => v.AvailableBytes is not null).OrderByDescending(v => v.AvailableBytes))
            {
                if (need == 0) break;
                ulong spare = vm.AvailableBytes!.Value > GuestHeadroomBytes ? vm.AvailableBytes.Value - GuestHeadroomBytes : 0;
                ulong aboveFloor = vm.KeepBytes > vm.MinimumBytes ? vm.KeepBytes - vm.MinimumBytes : 0;
                ulong step = Pages(Math.Min(Math.Min(StepBytes, need), Math.Min(spare, aboveFloor)));
                if (step < Smallest) continue;
                changes.Add(new BalloonChange(vm.Name, vm.KeepBytes - step, vm.KeepBytes));
                need -= Math.Min(need, step);
            }
        }
        else if (usedBytes < targetBytes * DeflateBelow)
        {
            ulong room = (ulong)(targetBytes * DeflateBelow) - usedBytes;
            foreach (var vm in vms.Where(v => v.KeepBytes < v.MemoryBytes).OrderBy(v => (double)v.KeepBytes / v.MemoryBytes))
            {
                ulong deficit = vm.MemoryBytes - vm.KeepBytes;
                ulong step = Pages(Math.Min(Math.Min(StepBytes, room), deficit));
                // The last bit of a balloon goes whole (sizes are whole pages), or a VM would stay a little short for good.
                if (step < Smallest && step != deficit) continue;
                changes.Add(new BalloonChange(vm.Name, vm.KeepBytes + step, vm.KeepBytes));
                room -= Math.Min(room, step);
                if (room < Smallest) break;
            }
        }
        return changes;
    }

    private static ulong Pages(ulong bytes) => bytes / Page * Page;
}
