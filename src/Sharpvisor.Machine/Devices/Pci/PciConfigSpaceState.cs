namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>The 256 bytes of a type-0 configuration space. Masks and BAR layouts belong to the device, not the state.</summary>
public sealed record PciConfigSpaceState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public byte[] Data { get; init; } = new byte[PciConfigSpace.Size];
}
