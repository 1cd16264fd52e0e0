namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>The root's own state: the last CONFIG_ADDRESS. Each device saves its configuration space itself.</summary>
public sealed record PciRootState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public uint ConfigAddress { get; init; }
}
