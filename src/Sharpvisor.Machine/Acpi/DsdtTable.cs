using Sharpvisor.Machine.Devices.Pci;
using static Sharpvisor.Machine.Acpi.AmlEncoder;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The Differentiated System Description Table: \_S5 for power-off, the PCI host bridge \_SB.PCI0 (with its _PRT) and the
/// serial port \_SB.COM1, in AML encoded by <see cref="AmlEncoder"/>.
/// </summary>
public static class DsdtTable
{
    public const string Signature = "DSDT";
    public const byte Revision = 2;                     // 64-bit AML integers

    public static byte[] Build(HardwareReducedRegisters registers, PciHostBridgeDescription pci, SerialPortDescription com1) =>
        AcpiTableEncoding.CreateTable(Signature, Revision, BuildAml(registers, pci, com1));

    /// <summary>The table's AML body (the definition block without its header).</summary>
    public static byte[] BuildAml(HardwareReducedRegisters registers, PciHostBridgeDescription pci, SerialPortDescription com1)
    {
        // \_S5: {SLP_TYPa, SLP_TYPb, reserved, reserved}; hardware-reduced OSPM writes SLP_TYPa to the sleep control register.
        byte[] s5 = Name("\\_S5", Package(Integer(registers.S5SleepType), Integer(0), Integer(0), Integer(0)));
        return [.. s5, .. Scope("\\_SB", PciHostBridge(pci), SerialPort("COM1", com1))];
    }

    private static byte[] PciHostBridge(PciHostBridgeDescription pci)
    {
        if (pci.MmioWindowEnd <= pci.MmioWindowStart || pci.MmioWindowEnd > 0x1_0000_0000)
            throw new ArgumentException($"the 32-bit PCI MMIO window 0x{pci.MmioWindowStart:x}-0x{pci.MmioWindowEnd:x} is empty or crosses 4 GiB");
        var crs = new ResourceTemplate()
            .WordBusNumber(pci.FirstBus, pci.LastBus)
            .Io(pci.ConfigPort, pci.ConfigPort, 1, pci.ConfigPortLength)
            .WordIo(pci.IoWindowFirst, pci.IoWindowLast)
            .DWordMemory((uint)pci.MmioWindowStart, (uint)(pci.MmioWindowEnd - 1));
        if (pci.Mmio64Window is { } high)
        {
            if (high.End <= high.Start) throw new ArgumentException("the 64-bit PCI MMIO window is empty");
            crs.QWordMemory(high.Start, high.End - 1);
        }
        return Device("PCI0",
            Name("_HID", EisaId("PNP0A08")),            // PCI Express root bridge
            Name("_CID", EisaId("PNP0A03")),            // compatible: PCI root bridge
            Name("_ADR", Integer(0)),
            Name("_SEG", Integer(pci.Segment)),
            Name("_UID", Integer(0)),
            Name("_BBN", Integer(pci.FirstBus)),
            Name("_CRS", crs.ToAmlBuffer()),
            Name("_PRT", InterruptRoutingTable()));
    }

    /// <summary>
    /// _PRT: for INTA#-INTD# of every slot but the host bridge's, the GSI that <see cref="PciInterruptRouting"/> wires
    /// it to (source 0: a global system interrupt, which Linux treats as level-triggered, active low).
    /// </summary>
    private static byte[] InterruptRoutingTable()
    {
        var entries = new List<byte[]>();
        for (int slot = 1; slot < PciRoot.SlotCount; slot++)
            for (int pin = 1; pin <= 4; pin++)
                entries.Add(Package(
                    DWordConst((uint)slot << 16 | 0xFFFF),  // _ADR of the slot, any function
                    Integer((ulong)(pin - 1)),
                    Integer(0),
                    Integer(PciInterruptRouting.GsiFor(slot, pin))));
        return Package([.. entries]);
    }

    private static byte[] SerialPort(string name, SerialPortDescription port) =>
        Device(name,
            Name("_HID", EisaId("PNP0501")),            // 16550A-compatible COM port
            Name("_UID", Integer((ulong)port.Uid)),
            Name("_CRS", new ResourceTemplate().Io(port.BasePort, port.BasePort, 1, 8).IrqNoFlags(port.Irq).ToAmlBuffer()));
}
