namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>What a <see cref="IVirtioNetBackend"/> hands received frames to (the <see cref="VirtioNet"/> device).</summary>
public interface IVirtioNetReceiver
{
    /// <summary>
    /// Puts one frame in the guest's receive queue. Blocks while the driver has no receive buffers posted (or the VM is
    /// paused), so the backend stops reading and the host side queues or drops, as a full NIC ring would. Returns false
    /// when the frame was dropped (device not live, reset, broken or disposed). Never throws.
    /// </summary>
    bool Deliver(ReadOnlySpan<byte> frame);

    /// <summary>The backend has nothing more to deliver for now: interrupts the driver once for the frames since the last call.</summary>
    void EndOfBatch();
}
