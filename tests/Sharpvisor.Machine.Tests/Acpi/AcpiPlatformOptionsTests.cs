using System.Buffers.Binary;
using Sharpvisor.Machine.Acpi;

namespace Sharpvisor.Machine.Tests.Acpi;

public class AcpiPlatformOptionsTests
{
    [Fact]
    public void S5ControlValueIsSleepTypeInBits4To2WithSleepEnable() =>
        Assert.Equal(0x34, new HardwareReducedRegisters().S5ControlValue);     // (5 << 2) | 0x20

    [Fact]
    public void PcatCompatFlagAndCustomOverridesReachTheMadt()
    {
        var tables = new AcpiTableBuilder([0])
        {
            Dual8259Present = true,
            IoApic = new IoApicDescription(Id: 1, Address: 0xFEC0_1000, GsiBase: 24),
            InterruptSourceOverrides =
            [
                InterruptSourceOverride.TimerToGsi2,
                new(9, 9, InterruptSourceOverride.PolarityActiveHigh | InterruptSourceOverride.TriggerLevel),
            ],
        }.Build();
        byte[] madt = tables["APIC"].Bytes;
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(madt.AsSpan(40)));
        var entries = AcpiTableBuilderTests.MadtEntries(madt);
        var ioapic = Assert.Single(entries, e => e[0] == 1);
        Assert.Equal(24u, BinaryPrimitives.ReadUInt32LittleEndian(ioapic.AsSpan(8)));
        var sci = Assert.Single(entries, e => e[0] == 2 && e[3] == 9);
        Assert.Equal(0x000D, BinaryPrimitives.ReadUInt16LittleEndian(sci.AsSpan(8)));
        Assert.True(AcpiChecksum.IsValid(madt));
        Assert.Throws<ArgumentException>(() => new AcpiTableBuilder([0])
        {
            InterruptSourceOverrides = [new(0, 2), new(0, 5)],
        }.Build());
    }
}
