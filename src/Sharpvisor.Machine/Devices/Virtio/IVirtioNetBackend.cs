namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// Where a <see cref="VirtioNet"/> device's Ethernet frames go and come from (a tap interface, or memory in tests).
/// Frames are whole Ethernet frames without the virtio-net header or a trailing FCS. The device owns its backend and
/// disposes it.
/// </summary>
public interface IVirtioNetBackend : IDisposable
{
    /// <summary>What the backend is attached to, for log lines (e.g. "tap0").</summary>
    string Name { get; }

    /// <summary>
    /// Starts delivering received frames to <paramref name="receiver"/>, from a thread of the backend's own; called once,
    /// when the driver first makes the device live.
    /// </summary>
    void Start(IVirtioNetReceiver receiver);

    /// <summary>Sends one frame; called on the device's transmit thread. Throws <see cref="IOException"/> on failure.</summary>
    void Send(ReadOnlySpan<byte> frame);
}
