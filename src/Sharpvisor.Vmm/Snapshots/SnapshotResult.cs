namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// A snapshot written: where, what it holds, and how long the VM was stopped for it (<see cref="Pausing"/> to stop
/// the vCPUs, <see cref="Writing"/> to write state and memory, <see cref="Total"/> until it ran again or stopped).
/// </summary>
public sealed record SnapshotResult(string Directory, SnapshotManifest Manifest, TimeSpan Pausing, TimeSpan Writing, TimeSpan Total)
{
    public ulong StoredPages => Manifest.Memory.StoredPages;

    /// <summary>The data the snapshot holds: stored pages (the memory file's only non-hole blocks) plus the state file.</summary>
    public long StoredBytes =>
        (long)StoredPages * 4096 + new FileInfo(Path.Combine(Directory, SnapshotFormat.StateFileName)).Length;
}
