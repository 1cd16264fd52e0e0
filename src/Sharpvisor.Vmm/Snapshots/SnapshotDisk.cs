namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// A writable disk as a snapshot holds it (format version 3). The image frozen at the snapshot is the configuration's
/// disk <see cref="Index"/> (path and format there): nothing writes it again. <see cref="Top"/> is the overlay on it the
/// VM wrote on into; a restore replaces it by a fresh, empty overlay on the frozen image (<see cref="SnapshotDiskLayers"/>).
/// </summary>
public sealed record SnapshotDisk(int Index, string Top)
{
    public const int CurrentVersion = 1;
    public int Version { get; init; } = CurrentVersion;
}
