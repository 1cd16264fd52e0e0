namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>One split virtqueue's configuration and the device's position in its rings.</summary>
public sealed record VirtqueueState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
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
