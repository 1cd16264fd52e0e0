using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// A <see cref="VirtioNet"/> device's own state: the MAC address its driver read and the link status. The queues'
/// configuration and ring positions belong to the transport (<see cref="VirtioPciDeviceState.Queues"/>); frames are
/// never held between batches, so nothing else is in flight.
/// </summary>
public sealed record VirtioNetState : IDeviceState
{
    public static int CurrentVersion => 1;

    public string MacAddress { get; init; } = "";
    public bool LinkUp { get; init; } = true;
}
