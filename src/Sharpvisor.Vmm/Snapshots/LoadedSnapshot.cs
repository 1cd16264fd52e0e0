namespace Sharpvisor.Vmm.Snapshots;

/// <summary>A snapshot read and verified from <see cref="Directory"/>: its manifest and the path of its memory file.</summary>
public sealed record LoadedSnapshot(string Directory, SnapshotManifest Manifest)
{
    public string MemoryPath => Path.Combine(Directory, Manifest.Memory.FileName);
}
