namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// A virtio device model (block, entropy, ...) behind a transport such as <see cref="VirtioPciDevice"/>. The transport
/// owns feature negotiation, status, the queues' configuration and interrupts; the model owns its configuration
/// structure and what its queues carry.
/// </summary>
public interface IVirtioDevice
{
    /// <summary>The virtio device ID (<see cref="VirtioDeviceType"/>).</summary>
    ushort DeviceType { get; }
    /// <summary>The PCI class code (0xCCSSPP) the function shows.</summary>
    uint PciClassCode { get; }
    /// <summary>The device-specific feature bits offered (the transport adds <see cref="VirtioFeatures.Transport"/>).</summary>
    ulong DeviceFeatures { get; }
    int QueueCount { get; }
    /// <summary>Largest size of each queue (a power of two).</summary>
    ushort MaxQueueSize { get; }
    /// <summary>Bytes of the device-specific configuration structure.</summary>
    int ConfigSize { get; }

    /// <summary>Reads the configuration structure; the transport has checked that the access lies inside it.</summary>
    void ReadConfig(int offset, Span<byte> data);
    void WriteConfig(int offset, ReadOnlySpan<byte> data);

    /// <summary>The driver set DRIVER_OK: the queues are validated and live until <see cref="Reset"/>.</summary>
    void Activate(IVirtioTransport transport);

    /// <summary>The driver notified queue <paramref name="queueIndex"/> (an enabled queue of a live device).</summary>
    void QueueNotified(int queueIndex);

    /// <summary>
    /// Stops using the queues (waiting for work in flight) before the transport resets them. Also called when the
    /// device is marked broken.
    /// </summary>
    void Reset();
}
