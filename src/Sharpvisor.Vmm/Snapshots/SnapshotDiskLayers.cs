using System.Security.Cryptography;
using System.Text;
using Sharpvisor.Machine.Storage;
using Sharpvisor.Machine.Storage.Qcow2;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// Disks in snapshots, as external qcow2 overlays: a snapshot freezes each writable disk's current image (nothing
/// writes it again) and the VM writes on into a new overlay on it, the disk's "top"; a restore replaces the top by a
/// fresh overlay on the frozen image; deleting a snapshot merges its frozen image into the images above it.
/// The user's own disk file is frozen where it is (a confined VMM sees it bound at its path and cannot move it); tops
/// and the frozen images made from them live in a layer folder, <see cref="FolderName"/> beside the snapshot folder,
/// where a top is named after its base disk's path, so the daemon finds a disk's top from the disk alone.
/// </summary>
public static class SnapshotDiskLayers
{
    public const string FolderName = ".disk-layers";
    private const string TopSuffix = ".top.qcow2";

    public static string FolderFor(string snapshotDirectory) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(snapshotDirectory)) ?? "/", FolderName);

    /// <summary>The top <paramref name="baseDisk"/> gets in <paramref name="layerFolder"/>: its file name and a hash of
    /// its full path, as two disks may share a file name.</summary>
    public static string TopFor(string layerFolder, string baseDisk)
    {
        string full = Path.GetFullPath(baseDisk);
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(full)))[..12];
        return Path.Combine(layerFolder, $"{Path.GetFileName(full)}-{hash}{TopSuffix}");
    }

    /// <summary>Whether <paramref name="path"/> is a file of a layer folder (a top or a frozen layer) rather than a user's disk.</summary>
    public static bool IsLayer(string path) =>
        Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) == FolderName;

    /// <summary>
    /// Freezes the image at <paramref name="current"/> (flushed; the caller's open handle stays valid) and makes the
    /// overlay the VM goes on with. A top is renamed to a frozen layer beside it and a new top takes its name; a
    /// user's disk stays where it is under a new top in the layer folder of <paramref name="snapshotDirectory"/>.
    /// </summary>
    public static FrozenDisk Freeze(string current, string format, string snapshotDirectory)
    {
        current = Path.GetFullPath(current);
        if (IsLayer(current))
        {
            string stem = Path.GetFileName(current);
            stem = stem.EndsWith(TopSuffix, StringComparison.Ordinal) ? stem[..^TopSuffix.Length] : Path.GetFileNameWithoutExtension(stem);
            string frozen = Path.Combine(Path.GetDirectoryName(current)!, $"{stem}.{Guid.NewGuid():N}.qcow2");
            DiskSnapshotFiles.Freeze(current, format, frozen);
            return new FrozenDisk(current, frozen, format, current, () => File.Move(frozen, current, overwrite: true));
        }
        string folder = FolderFor(snapshotDirectory);
        Directory.CreateDirectory(folder);
        string top = TopFor(folder, current);
        if (File.Exists(top))
            throw new SnapshotException($"disk {current} has an overlay from an earlier snapshot, {top}, holding what was written since; " +
                                        $"run the VM on it (--disk {top},format=qcow2) or remove it first");
        DiskSnapshotFiles.Revert(current, format, top);
        return new FrozenDisk(current, current, format, top, () => File.Delete(top));
    }

    /// <summary>
    /// The disks of <paramref name="config"/> brought back to <paramref name="snapshot"/>: each frozen image is opened
    /// first (a missing or damaged one stops the restore with every file as it was), then each top is replaced by a
    /// fresh overlay on its frozen image. What was written to the tops since is gone, as the memory is.
    /// </summary>
    public static VmConfig Revert(LoadedSnapshot snapshot, VmConfig config)
    {
        var manifest = snapshot.Manifest;
        if (!manifest.DisksCaptured) return config;
        CheckFrozen(snapshot);
        var disks = config.Disks.ToArray();
        foreach (var disk in manifest.Disks)
        {
            var frozen = manifest.Config.Disks[disk.Index];
            Directory.CreateDirectory(Path.GetDirectoryName(disk.Top)!);
            DiskSnapshotFiles.Revert(frozen.Path, frozen.Format, disk.Top);
            disks[disk.Index] = new DiskSpec(disk.Top, ReadOnly: false, "qcow2");
        }
        return config with { Disks = disks };
    }

    /// <summary>Opens each image <paramref name="snapshot"/> froze, with its backing chain; throws <see cref="SnapshotException"/> naming the first that cannot be read.</summary>
    public static void CheckFrozen(LoadedSnapshot snapshot)
    {
        var manifest = snapshot.Manifest;
        foreach (var disk in manifest.Disks)
        {
            var frozen = manifest.Config.Disks[disk.Index];
            try
            {
                using var image = BlockBackendOpener.Open(frozen.Path, readOnly: true, frozen.Format);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new SnapshotException($"snapshot {snapshot.Directory}: disk {disk.Index}'s frozen image {frozen.Path} cannot be read " +
                                            $"({e.Message}); no disk was changed");
            }
        }
    }

    /// <summary>
    /// What deleting <paramref name="snapshot"/> does to its disks: each frozen layer is merged into every image of its
    /// folder whose backing file it is (the guest reads the same from them before and after), then deleted. A user's
    /// disk file that the snapshot froze stays, as the base of the chain.
    /// </summary>
    /// <param name="merge">Merges an image's backing file into it: the caller sends an image a running VMM has open to it.</param>
    /// <returns>The frozen layers deleted.</returns>
    public static int Release(SnapshotManifest manifest, Action<string> merge)
    {
        int deleted = 0;
        foreach (var disk in manifest.DisksCaptured ? manifest.Disks : [])
        {
            string frozen = Path.GetFullPath(manifest.Config.Disks[disk.Index].Path);
            if (!IsLayer(frozen) || !File.Exists(frozen)) continue;
            foreach (string child in Directory.EnumerateFiles(Path.GetDirectoryName(frozen)!, "*.qcow2").ToArray())
                if (child != frozen && BackingOf(child) == frozen) merge(child);
            File.Delete(frozen);
            deleted++;
        }
        return deleted;
    }

    /// <summary>The full path of a qcow2 image's backing file, or null.</summary>
    public static string? BackingOf(string image)
    {
        using var header = Qcow2BlockBackend.Open(image, readOnly: true);
        return header.Header.BackingFile is { } name
            ? Path.GetFullPath(Path.IsPathRooted(name) ? name : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(image))!, name))
            : null;
    }
}
