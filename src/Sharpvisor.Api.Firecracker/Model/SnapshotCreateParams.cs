namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PUT /snapshot/create: where the state file and the memory file go.</summary>
public sealed record SnapshotCreateParams
{
    public required string SnapshotPath { get; init; }
    public required string MemFilePath { get; init; }
    public string? SnapshotType { get; init; }
}
