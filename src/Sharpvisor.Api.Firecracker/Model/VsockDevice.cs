namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PUT /vsock: a virtio-vsock device; host programs reach the guest through the unix socket uds_path.</summary>
public sealed record VsockDevice
{
    public required long GuestCid { get; init; }
    public required string UdsPath { get; init; }
    /// <summary>Deprecated in Firecracker and ignored there; accepted so older clients keep working.</summary>
    public string? VsockId { get; init; }
}
