namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>Transport feature bits every device may offer (virtio 1.x, section 6); device-specific bits are below 24.</summary>
public static class VirtioFeatures
{
    public const ulong RingIndirectDescriptors = 1UL << 28;
    public const ulong RingEventIndex = 1UL << 29;
    public const ulong Version1 = 1UL << 32;
    /// <summary>What the shared split-queue code implements, offered by every device on top of its own bits.</summary>
    public const ulong Transport = RingIndirectDescriptors | RingEventIndex | Version1;
}
