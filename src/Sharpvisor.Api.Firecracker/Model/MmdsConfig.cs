namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PUT /mmds/config: which interfaces answer the metadata address, the version (V1 or V2) and the address.</summary>
public sealed record MmdsConfig
{
    public required IReadOnlyList<string> NetworkInterfaces { get; init; }
    public string? Version { get; init; }
    public string? Ipv4Address { get; init; }
    public bool? ImdsCompat { get; init; }
}
