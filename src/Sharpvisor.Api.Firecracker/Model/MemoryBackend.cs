namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>Where a loaded snapshot's memory comes from: "File" (a path) or "Uffd" (a page-fault handler's socket).</summary>
public sealed record MemoryBackend
{
    public required string BackendType { get; init; }
    public required string BackendPath { get; init; }
}
