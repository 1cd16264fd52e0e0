namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>
/// How INTA#-INTD# of the slots on bus 0 reach the IOAPIC: the usual rotation over four GSIs above the ISA range,
/// slot s pin p (0 = INTA#) to GSI 16 + (s + p) mod 4. The DSDT's _PRT describes exactly this, and devices assert
/// the GSI it names; PCI lines are level-triggered and active low.
/// </summary>
public static class PciInterruptRouting
{
    public const uint FirstGsi = 16;
    public const int GsiCount = 4;

    /// <param name="slot">0-31.</param>
    /// <param name="pin">1-4 for INTA#-INTD#, as in the interrupt pin register.</param>
    public static uint GsiFor(int slot, int pin)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, PciRoot.SlotCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(pin, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pin, 4);
        return FirstGsi + (uint)((slot + pin - 1) % GsiCount);
    }
}
