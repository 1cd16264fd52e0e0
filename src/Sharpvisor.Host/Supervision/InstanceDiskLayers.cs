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
    /// Before an instance's folder goes: each disk with a top gets the top's contents written back into its own file,
    /// as what the guest wrote since the disk's first snapshot is in the top, inside that folder.
    /// </summary>
    public static void FoldBack(HostPaths paths, InstanceDefinition definition)
    {
        foreach (var disk in definition.Disks.Where(d => !d.ReadOnly))
        {
            string top = SnapshotDiskLayers.TopFor(Folder(paths, definition.Name), disk.Path);
            if (!File.Exists(top)) continue;
            string format = disk.Format ?? Machine.Storage.BlockBackendOpener.Probe(disk.Path);
            string temporary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(disk.Path))!, $".{Path.GetFileName(disk.Path)}.{Environment.ProcessId}.fold");
            try
            {
                Machine.Storage.ImageConverter.Convert(top, "qcow2", temporary, format, compress: false);
                File.Move(temporary, disk.Path, overwrite: true);
            }
            finally
            {
                File.Delete(temporary);
            }
        }
    }

    /// <summary>The files below the definition's disks (an image under an overlay): a confined VMM must see them too.</summary>
    public static IEnumerable<string> BackingFiles(InstanceDefinition definition) =>
        definition.Disks.SelectMany(disk => Machine.Storage.BlockImageInfo.Chain(disk.Path, disk.Format).Skip(1).Select(i => i.Path));

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
