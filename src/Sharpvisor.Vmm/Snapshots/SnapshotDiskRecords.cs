namespace Sharpvisor.Vmm.Snapshots;

/// <summary>The checks a snapshot's disk records pass before a restore may act on them.</summary>
internal static class SnapshotDiskRecords
{
    public static void Check(SnapshotManifest manifest, string name)
    {
        var disks = manifest.Config.Disks;
        foreach (var disk in manifest.Disks)
        {
            if (disk.Version != SnapshotDisk.CurrentVersion)
                throw new SnapshotException($"{name}: a version {disk.Version} disk record; this build reads version {SnapshotDisk.CurrentVersion}");
            if (disk.Index < 0 || disk.Index >= disks.Count || disks[disk.Index].ReadOnly)
                throw new SnapshotException($"{name}: a disk record names disk {disk.Index}, which is not one of the {disks.Count} disks' writable ones");
            if (string.IsNullOrEmpty(disk.Top) || disks[disk.Index].Format is null)
                throw new SnapshotException($"{name}: disk {disk.Index}'s record lacks its overlay or its frozen image's format");
        }
        if (!manifest.DisksCaptured)
        {
            if (manifest.Disks.Length > 0) throw new SnapshotException($"{name}: disk records in a snapshot that says it holds no disks");
            return;
        }
        for (int i = 0; i < disks.Count; i++)
        {
            int records = manifest.Disks.Count(d => d.Index == i);
            if (!disks[i].ReadOnly && records != 1)
                throw new SnapshotException($"{name}: writable disk {i} ({disks[i].Path}) has {records} records in the snapshot, not one");
        }
    }
}
