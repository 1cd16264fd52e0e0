namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>The device status field's bits (virtio 1.x, section 2.1); writing 0 resets the device.</summary>
public static class VirtioStatus
{
    public const byte Acknowledge = 1, Driver = 2, DriverOk = 4, FeaturesOk = 8, DeviceNeedsReset = 0x40, Failed = 0x80;
}
