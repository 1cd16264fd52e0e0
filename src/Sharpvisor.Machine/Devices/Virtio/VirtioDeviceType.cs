namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>Virtio device IDs (virtio 1.x, section 5); a modern PCI function's device ID is 0x1040 plus the ID.</summary>
public static class VirtioDeviceType
{
    public const ushort Network = 1, Block = 2, Console = 3, Entropy = 4, Balloon = 5, Socket = 19;
}
