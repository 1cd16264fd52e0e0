using System.Buffers.Binary;
using Sharpvisor.Machine.Acpi;

namespace Sharpvisor.Machine.Tests.Acpi;

public class ResourceTemplateTests
{
    [Fact]
    public void SmallItemsAndEndTagMatchTheSpecLayouts()
    {
        byte[] t = new ResourceTemplate().Io(0x3F8, 0x3F8, 1, 8).IrqNoFlags(4).ToArray();
        Assert.Equal(new byte[] { 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00 }, t);
    }

    [Fact]
    public void AddressSpaceDescriptorsHaveTheirLengthsAndRanges()
    {
        byte[] t = new ResourceTemplate()
            .WordBusNumber(0, 0)
            .WordIo(0x1000, 0xFFFF)
            .DWordMemory(0xC000_0000, 0xFEBF_FFFF)
            .QWordMemory(0x1_0000_0000, 0x1_FFFF_FFFF)
            .ToArray();
        Assert.Equal(16 + 16 + 26 + 46 + 2, t.Length);

        Assert.Equal(0x88, t[0]);
        Assert.Equal(13, BinaryPrimitives.ReadUInt16LittleEndian(t.AsSpan(1)));
        Assert.Equal(2, t[3]);                                  // bus number space
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(t.AsSpan(14)));   // one bus

        Assert.Equal(0x88, t[16]);
        Assert.Equal(1, t[19]);                                 // I/O space
        Assert.Equal(3, t[21]);                                 // entire range
        Assert.Equal(0x1000, BinaryPrimitives.ReadUInt16LittleEndian(t.AsSpan(16 + 8)));
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16LittleEndian(t.AsSpan(16 + 10)));
        Assert.Equal(0xF000, BinaryPrimitives.ReadUInt16LittleEndian(t.AsSpan(16 + 14)));

        Assert.Equal(0x87, t[32]);
        Assert.Equal(23, BinaryPrimitives.ReadUInt16LittleEndian(t.AsSpan(33)));
        Assert.Equal(0xC000_0000u, BinaryPrimitives.ReadUInt32LittleEndian(t.AsSpan(32 + 10)));
        Assert.Equal(0xFEBF_FFFFu, BinaryPrimitives.ReadUInt32LittleEndian(t.AsSpan(32 + 14)));
        Assert.Equal(0x3EC0_0000u, BinaryPrimitives.ReadUInt32LittleEndian(t.AsSpan(32 + 22)));

        Assert.Equal(0x8A, t[58]);
        Assert.Equal(43, BinaryPrimitives.ReadUInt16LittleEndian(t.AsSpan(59)));
        Assert.Equal(0x1_0000_0000UL, BinaryPrimitives.ReadUInt64LittleEndian(t.AsSpan(58 + 38)));

        Assert.Equal(new byte[] { 0x79, 0x00 }, t[^2..]);
    }

    [Fact]
    public void UnrepresentableRangesAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new ResourceTemplate().WordIo(0, 0xFFFF));
        Assert.Throws<ArgumentException>(() => new ResourceTemplate().DWordMemory(0x2000, 0x1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ResourceTemplate().IrqNoFlags(16));
    }
}

public class ResourceTemplateInterruptTests
{
    [Fact]
    public void The_extended_interrupt_descriptor_names_each_GSI_with_its_mode()
    {
        // Interrupt(ResourceConsumer, Level, ActiveHigh, Exclusive) { 20 }, then the end tag.
        Assert.Equal(new byte[] { 0x89, 0x06, 0x00, 0x01, 0x01, 20, 0, 0, 0, 0x79, 0x00 },
            new ResourceTemplate().Interrupt(edgeTriggered: false, activeLow: false, 20).ToArray());
        // Interrupt(ResourceConsumer, Edge, ActiveLow, Exclusive) { 5, 0x123 }
        Assert.Equal(new byte[] { 0x89, 0x0A, 0x00, 0x07, 0x02, 5, 0, 0, 0, 0x23, 0x01, 0, 0, 0x79, 0x00 },
            new ResourceTemplate().Interrupt(edgeTriggered: true, activeLow: true, 5, 0x123).ToArray());
        Assert.Throws<ArgumentException>(() => new ResourceTemplate().Interrupt(false, false));
    }
}
