using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>What a live <see cref="IVirtioDevice"/> uses of its transport. Safe to call from any thread.</summary>
public interface IVirtioTransport
{
    GuestMemory Memory { get; }
    /// <summary>The feature bits the driver accepted.</summary>
    ulong NegotiatedFeatures { get; }
    Virtqueue GetQueue(int index);
    /// <summary>Used buffers were added to queue <paramref name="queueIndex"/>: interrupts the driver if it wants one.</summary>
    void NotifyUsed(int queueIndex);
    /// <summary>
    /// The guest broke the protocol: logs <paramref name="reason"/> once, sets DEVICE_NEEDS_RESET, sends a configuration
    /// change interrupt and ignores the queues until the driver resets the device.
    /// </summary>
    void MarkBroken(string reason);
    bool IsBroken { get; }
    /// <summary>The device configuration changed: bumps config_generation and sends a configuration interrupt.</summary>
    void NotifyConfigChanged();
}
