namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PUT /snapshot/load: the state file, its memory (mem_backend, or the older mem_file_path) and whether to resume.</summary>
public sealed record SnapshotLoadParams
{
    public required string SnapshotPath { get; init; }
    public string? MemFilePath { get; init; }
    public MemoryBackend? MemBackend { get; init; }
    public bool ResumeVm { get; init; }
    public bool? EnableDiffSnapshots { get; init; }
    public bool? TrackDirtyPages { get; init; }
    public bool? ClockRealtime { get; init; }
}
