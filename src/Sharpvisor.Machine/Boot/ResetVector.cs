using Sharpvisor.Machine.Devices.Power;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Boot;

/// <summary>
/// The 16 bytes at the real-mode reset vector, F000:FFF0. A PC's firmware has its entry point there; this machine has
/// no firmware, but Linux reboots through it when nothing else worked (on a hardware-reduced ACPI machine without EFI
/// it goes there first, unless booted with reboot=acpi): it returns to real mode and jumps to F000:FFF0. The code here
/// writes the FADT's reset value to the reset register, so the machine resets, as a BIOS's reset entry would make it.
/// The range is reserved in the E820 map, so the guest leaves it alone.
/// </summary>
public static class ResetVector
{
    public const ulong Address = 0xFFFF0;

    /// <summary>mov al, ResetValue; mov dx, ResetPort; out dx, al; hlt; jmp back to the hlt (in case the write is ignored).</summary>
    public static byte[] Code() =>
    [
        0xB0, AcpiPowerDevice.ResetValue,
        0xBA, (byte)(AcpiPowerDevice.ResetPort & 0xFF), (byte)(AcpiPowerDevice.ResetPort >> 8),
        0xEE,
        0xF4,
        0xEB, 0xFD,
    ];

    public static void WriteTo(GuestMemory memory)
    {
        if (!memory.IsRam(Address, 16)) return; // no RAM below 1 MiB to hold it (not a layout this machine makes)
        memory.Write(Address, Code());
    }
}
