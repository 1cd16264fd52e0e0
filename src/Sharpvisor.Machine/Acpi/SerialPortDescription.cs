namespace Sharpvisor.Machine.Acpi;

/// <summary>A 16550 UART as the DSDT declares it (PNP0501): its 8-port I/O range and ISA IRQ.</summary>
public sealed record SerialPortDescription(ushort BasePort = 0x3F8, byte Irq = 4, int Uid = 0);
