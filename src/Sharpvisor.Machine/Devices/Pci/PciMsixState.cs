namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>
/// An MSI-X vector table (16 bytes per vector) and its pending bits. The capability is in the config space state.
/// Part of the record of the device holding it, whose version it shares.
/// </summary>
public sealed record PciMsixState
{
    public byte[] Table { get; init; } = [];
    public ulong[] PendingBits { get; init; } = [];
}
