namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>Firecracker's boot-source resource: the kernel, its initrd and its command line.</summary>
public sealed record BootSource
{
    public required string KernelImagePath { get; init; }
    public string? InitrdPath { get; init; }
    public string? BootArgs { get; init; }
}
