namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The i8042 keyboard controller as the DSDT declares it (PNP0303): its data and status/command ports and the keyboard's
/// ISA IRQ. A hardware-reduced platform has no legacy PIC, so Linux maps ISA IRQs only for devices ACPI describes:
/// without this entry its i8042 driver cannot request IRQ 1. No mouse (PNP0F13) is declared: none is plugged in.
/// </summary>
public sealed record KeyboardControllerDescription(ushort DataPort = 0x60, ushort CommandPort = 0x64, byte Irq = 1);
