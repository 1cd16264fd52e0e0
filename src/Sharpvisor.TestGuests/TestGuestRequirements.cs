namespace Sharpvisor.TestGuests;

/// <summary>What a test guest needs from the machine besides RAM, COM1 and the debug-exit port.</summary>
[Flags]
public enum TestGuestRequirements
{
    None = 0,
    /// <summary>The pc-testdev echo port (0xE0) and echo memory (0xFF000000); QEMU: -device pc-testdev.</summary>
    EchoDevice = 1,
    /// <summary>An xAPIC at 0xFEE00000 with a working timer.</summary>
    LocalApic = 2,
    /// <summary>The TSC, and a way to learn its rate: tsc_khz= on the command line, CPUID 0x40000010/0x15/0x16, a PIT behind port 0x61 or the CMOS RTC.</summary>
    TimeStampCounter = 4,
    /// <summary>Host input on COM1: the harness must type <see cref="TestGuest.SerialInput"/> into the serial port (a
    /// VMM's SendSerialInput, or QEMU's stdin with -serial stdio). Early is fine; the UART holds it until read.</summary>
    SerialInput = 8,
    /// <summary>A virtio-rng PCI function (modern or transitional); QEMU: -device virtio-rng-pci.</summary>
    VirtioEntropy = 16,
    /// <summary>A virtio-blk PCI function on a writable raw disk of at least two sectors (harnesses use a zeroed
    /// <see cref="Guests.VirtioGuestDisk.Bytes"/>-byte image); QEMU: -drive file=F,format=raw,if=none,id=d -device virtio-blk-pci,drive=d.</summary>
    VirtioBlock = 32,
}
