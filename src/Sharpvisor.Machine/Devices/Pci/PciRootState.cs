using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>The root's own state: the last CONFIG_ADDRESS. Each device saves its configuration space itself.</summary>
public sealed record PciRootState : IDeviceState
{
    public static int CurrentVersion => 1;

    public uint ConfigAddress { get; init; }
}
