using Sharpvisor.Machine.Storage;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// A paused machine's writable disks frozen for a snapshot (<see cref="SnapshotDiskLayers"/>): each virtio-blk device
/// is moved between two batches onto its new overlay, and back if the snapshot cannot be completed.
/// </summary>
internal static class MachineDiskFreeze
{
    public static List<(int Index, FrozenDisk Disk)> Freeze(MachineInstance machine, string snapshotDirectory)
    {
        var done = new List<(int Index, FrozenDisk Disk)>();
        var specs = machine.Config.Disks;
        try
        {
            for (int i = 0; i < specs.Count; i++)
            {
                if (specs[i].ReadOnly) continue;
                var device = machine.Disks[i];
                FrozenDisk? frozen = null;
                try
                {
                    device.ChangeImage(current =>
                    {
                        frozen = SnapshotDiskLayers.Freeze(device.Path, current.Format, snapshotDirectory);
                        return (BlockBackendOpener.Open(frozen.Top, readOnly: false, "qcow2"), frozen.Top);
                    });
                }
                catch
                {
                    frozen?.Undo();
                    throw;
                }
                done.Add((i, frozen!));
            }
        }
        catch (Exception e)
        {
            Undo(machine, done);
            if (e is IOException or UnauthorizedAccessException) throw new SnapshotException($"cannot freeze the disks: {e.Message}", e);
            throw;
        }
        return done;
    }

    /// <summary>Puts each disk back on the image it had (nothing was written to the overlays: the VM stayed paused).</summary>
    public static void Undo(MachineInstance machine, IEnumerable<(int Index, FrozenDisk Disk)> done)
    {
        foreach (var (index, disk) in done.Reverse())
            machine.Disks[index].ChangeImage(_ =>
            {
                disk.Undo();
                return (BlockBackendOpener.Open(disk.Previous, readOnly: false, disk.Format), disk.Previous);
            });
    }

    /// <summary><paramref name="config"/> with each frozen disk's entry as <paramref name="pick"/> says.</summary>
    public static VmConfig WithDisks(VmConfig config, IEnumerable<(int Index, FrozenDisk Disk)> frozen, Func<FrozenDisk, DiskSpec> pick)
    {
        var disks = config.Disks.ToArray();
        foreach (var (index, disk) in frozen) disks[index] = pick(disk);
        return config with { Disks = disks };
    }
}
