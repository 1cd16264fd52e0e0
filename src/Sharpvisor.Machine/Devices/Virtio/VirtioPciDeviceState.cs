using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// A virtio-pci function: configuration space, MSI-X, transport registers and every queue. Its version covers the
/// records nested in it (<see cref="PciConfigSpaceState"/>, <see cref="PciMsixState"/>, <see cref="VirtqueueState"/>).
/// </summary>
public sealed record VirtioPciDeviceState : IDeviceState
{
    public static int CurrentVersion => 1;

    public required PciConfigSpaceState ConfigSpace { get; init; }
    public required PciMsixState Msix { get; init; }
    public uint DeviceFeatureSelect { get; init; }
    public uint DriverFeatureSelect { get; init; }
    public ulong DriverFeatures { get; init; }
    public ushort ConfigMsixVector { get; init; }
    public byte Status { get; init; }
    public byte ConfigGeneration { get; init; }
    public ushort QueueSelect { get; init; }
    public byte InterruptStatus { get; init; }
    public bool Broken { get; init; }
    public VirtqueueState[] Queues { get; init; } = [];
}
