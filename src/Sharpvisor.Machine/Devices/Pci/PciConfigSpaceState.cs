namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>
/// The 256 bytes of a type-0 configuration space. Masks and BAR layouts belong to the device, not the state. Part of
/// the record of the device holding it, whose version it shares.
/// </summary>
public sealed record PciConfigSpaceState
{
    public byte[] Data { get; init; } = new byte[PciConfigSpace.Size];
}
