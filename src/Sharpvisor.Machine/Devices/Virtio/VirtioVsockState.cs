using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// A <see cref="VirtioVsock"/> device's own state: the guest CID its driver read. Connections are not carried (their
/// host ends are sockets of the saving process); as Firecracker does, a restored device drops them and tells the
/// driver with a transport reset event, so the guest closes its sockets and reads the CID again.
/// </summary>
public sealed record VirtioVsockState : IDeviceState
{
    public static int CurrentVersion => 1;

    public ulong GuestCid { get; init; }
}
