namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// One split virtqueue's configuration and the device's position in its rings. Part of
/// <see cref="VirtioPciDeviceState"/>, whose version it shares.
/// </summary>
public sealed record VirtqueueState
{
    public ushort Size { get; init; }
    public bool Enabled { get; init; }
    public ushort MsixVector { get; init; }
    public ulong DescriptorTableAddress { get; init; }
    public ulong AvailableRingAddress { get; init; }
    public ulong UsedRingAddress { get; init; }
    public bool EventIndex { get; init; }
    public bool IndirectDescriptors { get; init; }
    public ushort NextAvailableIndex { get; init; }
    public ushort UsedIndex { get; init; }
    public ushort SignalledUsedIndex { get; init; }
    public bool SignalledUsedValid { get; init; }
}
