namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// The guest broke the virtqueue protocol (a descriptor outside RAM, a loop, an index beyond the ring...). The device
/// that meets it stops using its queues and asks for a reset (DEVICE_NEEDS_RESET); it never leaves the device.
/// </summary>
public sealed class VirtqueueException(string message) : Exception(message);
