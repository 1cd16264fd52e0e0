namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// Where a <see cref="VirtioNet"/> device's Ethernet frames go and come from (a tap interface, or memory in tests).
/// Frames are whole Ethernet frames without the virtio-net header or a trailing FCS. The device starts and stops it;
/// whoever opened it disposes it, so one backend can serve the devices of successive boots (a tap keeps its host-side
/// configuration across a guest reboot, as with QEMU).
/// </summary>
public interface IVirtioNetBackend : IDisposable
{
    /// <summary>What the backend is attached to, for log lines (e.g. "tap0").</summary>
    string Name { get; }

    /// <summary>
    /// Starts delivering received frames to <paramref name="receiver"/>, from a thread of the backend's own; called
    /// when the driver first makes the device live. After <see cref="Stop"/> it may be called again (a new device).
    /// </summary>
    void Start(IVirtioNetReceiver receiver);

    /// <summary>Stops delivering frames and returns once no more will come (the device is going away); idempotent.</summary>
    void Stop();

    /// <summary>Sends one frame; called on the device's transmit thread. Throws <see cref="IOException"/> on failure.</summary>
    void Send(ReadOnlySpan<byte> frame);
}
