namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>Firecracker's machine-config resource: vCPUs and memory of the one microVM.</summary>
public sealed record MachineConfiguration
{
    public required int VcpuCount { get; init; }
    public required long MemSizeMib { get; init; }
    public bool Smt { get; init; }
    public bool TrackDirtyPages { get; init; }
    public string? CpuTemplate { get; init; }
    public string? HugePages { get; init; }

    /// <summary>Firecracker's defaults before any PUT: one vCPU, 128 MiB.</summary>
    public static readonly MachineConfiguration Default = new() { VcpuCount = 1, MemSizeMib = 128 };
}
