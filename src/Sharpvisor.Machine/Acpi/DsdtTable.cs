using Sharpvisor.Machine.Devices.Pci;
using static Sharpvisor.Machine.Acpi.AmlEncoder;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The Differentiated System Description Table: \_S5 for power-off, the PCI host bridge \_SB.PCI0 (with its _PRT), the
/// serial port \_SB.COM1, the keyboard controller \_SB.KBD, and the power button \_SB.PWRB with the Generic Event Device \_SB.GED0 that signals it, in
/// AML encoded by <see cref="AmlEncoder"/>.
/// </summary>
public static class DsdtTable
{
    public const string Signature = "DSDT";
    public const byte Revision = 2;                     // 64-bit AML integers

    public static byte[] Build(HardwareReducedRegisters registers, PciHostBridgeDescription pci, SerialPortDescription com1,
        KeyboardControllerDescription keyboard, GenericEventDeviceDescription events) =>
        AcpiTableEncoding.CreateTable(Signature, Revision, BuildAml(registers, pci, com1, keyboard, events));

    /// <summary>The table's AML body (the definition block without its header).</summary>
    public static byte[] BuildAml(HardwareReducedRegisters registers, PciHostBridgeDescription pci, SerialPortDescription com1,
        KeyboardControllerDescription keyboard, GenericEventDeviceDescription events)
    {
        // \_S5: {SLP_TYPa, SLP_TYPb, reserved, reserved}; hardware-reduced OSPM writes SLP_TYPa to the sleep control register.
        byte[] s5 = Name("\\_S5", Package(Integer(registers.S5SleepType), Integer(0), Integer(0), Integer(0)));
        return [.. s5, .. Scope("\\_SB", PciHostBridge(pci), SerialPort("COM1", com1), KeyboardController(keyboard),
            PowerButton(), GenericEventDevice(events))];
    }

    private static byte[] KeyboardController(KeyboardControllerDescription keyboard) =>
        Device("KBD",
            Name("_HID", EisaId("PNP0303")),            // IBM enhanced (101/102-key) keyboard controller
            Name("_CRS", new ResourceTemplate()
                .Io(keyboard.DataPort, keyboard.DataPort, 1, 1)
                .Io(keyboard.CommandPort, keyboard.CommandPort, 1, 1)
                .IrqNoFlags(keyboard.Irq)
                .ToAmlBuffer()));

    private const string PowerButtonPath = "\\_SB.PWRB";

    // The power button of a hardware-reduced platform: a control-method button (PNP0C0C) that only hears Notify 0x80.
    private static byte[] PowerButton() =>
        Device("PWRB",
            Name("_HID", EisaId("PNP0C0C")),
            Name("_UID", Integer(0)));

    /// <summary>
    /// GED0: Linux's ACPI0013 driver requests the _CRS interrupt and, on each, runs _EVT(GSI). _EVT reads the event
    /// register once (the read clears it and lowers the line) and notifies the devices whose bits were set.
    /// </summary>
    private static byte[] GenericEventDevice(GenericEventDeviceDescription events) =>
        Device("GED0",
            Name("_HID", String("ACPI0013")),
            Name("_UID", Integer(0)),
            Name("_CRS", new ResourceTemplate().Interrupt(edgeTriggered: false, activeLow: false, events.Gsi).ToAmlBuffer()),
            OperationRegion("EREG", RegionSpaceSystemIo, events.EventPort, 1),
            Field("EREG", FieldAccessByte | FieldUpdateWriteAsZeros, ("ESEL", 8)),
            Method("_EVT", 1, serialized: true,
                Store(NameString("ESEL"), Local(0)),
                If(And(Local(0), Integer(GenericEventDeviceDescription.PowerButtonEvent)),
                    Notify(PowerButtonPath, GenericEventDeviceDescription.ButtonPressedNotification))));

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
