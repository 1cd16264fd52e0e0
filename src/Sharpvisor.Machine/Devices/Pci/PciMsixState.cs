namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>An MSI-X vector table (16 bytes per vector) and its pending bits. The capability is in the config space state.</summary>
public sealed record PciMsixState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public byte[] Table { get; init; } = [];
    public ulong[] PendingBits { get; init; } = [];
}
