using Sharpvisor.Machine.Acpi;
using Sharpvisor.Machine.Devices.Pci;

namespace Sharpvisor.Machine.Tests.Acpi;

/// <summary>The host bridge's _PRT: INTx of every slot to the GSI that <see cref="PciInterruptRouting"/> drives.</summary>
public sealed class DsdtPciRoutingTests
{
    private static readonly byte[] Aml = DsdtTable.BuildAml(new HardwareReducedRegisters(), new PciHostBridgeDescription(), new SerialPortDescription(),
        new KeyboardControllerDescription(), new GenericEventDeviceDescription());

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 3)]
    [InlineData(31, 4)]
    public void Each_slot_and_pin_routes_to_its_GSI(int slot, int pin)
    {
        byte gsi = (byte)PciInterruptRouting.GsiFor(slot, pin);
        // Package (4) { DWord _ADR (slot << 16 | 0xFFFF), pin - 1, Zero, GSI }
        byte[] pinEncoding = (pin - 1) switch { 0 => new byte[] { 0x00 }, 1 => new byte[] { 0x01 }, var p => new byte[] { 0x0A, (byte)p } };
        byte[] entry = [0x04, 0x0C, 0xFF, 0xFF, (byte)slot, 0x00, .. pinEncoding, 0x00, 0x0A, gsi];
        Assert.True(Contains(Aml, entry), $"no _PRT entry for slot {slot} pin {pin} -> GSI {gsi}");
    }

    [Fact]
    public void The_routing_table_is_named_under_the_host_bridge()
    {
        Assert.True(Contains(Aml, [0x08, .. "_PRT"u8, 0x12]));
        Assert.True(Aml.AsSpan().IndexOf("_PRT"u8) > Aml.AsSpan().IndexOf("PCI0"u8));
    }
}
