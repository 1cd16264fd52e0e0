using Sharpvisor.Host.Instances;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Host.Supervision;

/// <summary>
/// An instance's disks across its snapshots (<see cref="SnapshotDiskLayers"/>): its layer folder is beside its
/// snapshot folders, inside its own folder; once a snapshot has frozen a disk, the VM boots on that disk's top there,
/// as the definition's file is frozen. The definition keeps naming the user's disk, under the disk folders.
/// </summary>
internal static class InstanceDiskLayers
{
    public static string Folder(HostPaths paths, string name) => Path.Combine(paths.SnapshotsDirectory(name), SnapshotDiskLayers.FolderName);

    /// <summary>The images a fresh boot opens: each writable disk's top where a snapshot made one, else the disk.</summary>
    public static IReadOnlyList<DiskSpec> Current(HostPaths paths, InstanceDefinition definition) =>
        definition.Disks.Select(disk => !disk.ReadOnly && SnapshotDiskLayers.TopFor(Folder(paths, definition.Name), disk.Path) is var top && File.Exists(top)
            ? new DiskSpec(top, ReadOnly: false, "qcow2")
            : disk).ToArray();

    /// <summary>
    /// Merges what a snapshot being deleted froze into the images above it (<see cref="SnapshotDiskLayers.Release"/>):
    /// through <paramref name="vmmSocket"/> when a VMM runs (it has the images open), else here. A snapshot whose state
    /// cannot be read names no layer: its files stay in the chains that use them.
    /// </summary>
    public static void Release(string snapshotDirectory, string? vmmSocket)
    {
        SnapshotManifest manifest;
        try { manifest = SnapshotStore.Load(snapshotDirectory, verifyMemory: false).Manifest; }
        catch (Exception e) when (e is SnapshotException or IOException) { return; }
        SnapshotDiskLayers.Release(manifest, image =>
        {
            if (vmmSocket is null) Machine.Storage.Qcow2.Qcow2BackingMerge.Merge(image);
            else VmmControl.SendAsync(vmmSocket, $"disk-merge {image}", TimeSpan.FromMinutes(30)).GetAwaiter().GetResult();
        });
    }
}
