using Sharpvisor.Machine.Acpi;

namespace Sharpvisor.Machine.Tests.Acpi;

public class AmlEncoderTests
{
    [Theory]
    [InlineData(0, new byte[] { 0x01 })]
    [InlineData(62, new byte[] { 0x3F })]
    // 63 bytes of content need two PkgLength bytes: total 65 = 0x41 -> lead 0x41 (1 follow byte, nibble 1), 0x04.
    [InlineData(63, new byte[] { 0x41, 0x04 })]
    [InlineData(4093, new byte[] { 0x4F, 0xFF })]
    // 4094 + 3 = 4097 = 0x1001 needs three bytes: lead 0x81, 0x00, 0x01.
    [InlineData(4094, new byte[] { 0x81, 0x00, 0x01 })]
    public void PkgLengthCountsItsOwnBytes(int contentLength, byte[] expected) =>
        Assert.Equal(expected, AmlEncoder.PkgLength(contentLength));

    [Theory]
    [InlineData(0UL, new byte[] { 0x00 })]
    [InlineData(1UL, new byte[] { 0x01 })]
    [InlineData(5UL, new byte[] { 0x0A, 0x05 })]
    [InlineData(0x1234UL, new byte[] { 0x0B, 0x34, 0x12 })]
    [InlineData(0xFEC00000UL, new byte[] { 0x0C, 0x00, 0x00, 0xC0, 0xFE })]
    [InlineData(0x1_0000_0000UL, new byte[] { 0x0E, 0, 0, 0, 0, 1, 0, 0, 0 })]
    public void IntegersUseTheShortestEncoding(ulong value, byte[] expected) =>
        Assert.Equal(expected, AmlEncoder.Integer(value));

    [Theory]
    [InlineData("PNP0A03", 0x030AD041u)]
    [InlineData("PNP0A08", 0x080AD041u)]
    [InlineData("PNP0501", 0x0105D041u)]
    public void EisaIdsCompressAsTheSpecDescribes(string id, uint expected) =>
        Assert.Equal(expected, AmlEncoder.EisaIdValue(id));

    [Theory]
    [InlineData("PNP0A0")]
    [InlineData("pnp0A03")]
    [InlineData("PNP0a03")]
    [InlineData("PNPXYZW")]
    public void MalformedEisaIdsAreRefused(string id) =>
        Assert.Throws<ArgumentException>(() => AmlEncoder.EisaIdValue(id));

    [Fact]
    public void NameStringsUseRootAndMultiSegmentPrefixes()
    {
        Assert.Equal("_S5_"u8.ToArray(), AmlEncoder.NameString("_S5"));
        Assert.Equal([0x5C, .. "_SB_"u8], AmlEncoder.NameString("\\_SB"));
        Assert.Equal([0x5C, 0x2E, .. "_SB_PCI0"u8], AmlEncoder.NameString("\\_SB.PCI0"));
        Assert.Equal([0x5C, 0x2F, 3, .. "_SB_PCI0COM1"u8], AmlEncoder.NameString("\\_SB.PCI0.COM1"));
        Assert.Equal([0x5E, 0x5E, .. "ABC_"u8], AmlEncoder.NameString("^^ABC"));
        Assert.Throws<ArgumentException>(() => AmlEncoder.NameString("1ABC"));
        Assert.Throws<ArgumentException>(() => AmlEncoder.NameString("TOOLONG"));
        Assert.Throws<ArgumentException>(() => AmlEncoder.NameString("ab"));
    }

    [Fact]
    public void PackageNameAndStringEncodeAsExpected()
    {
        // Name(_S5, Package() {5, 0, 0, 0})
        byte[] s5 = AmlEncoder.Name("_S5", AmlEncoder.Package(AmlEncoder.Integer(5), AmlEncoder.Integer(0),
            AmlEncoder.Integer(0), AmlEncoder.Integer(0)));
        Assert.Equal(new byte[] { 0x08, (byte)'_', (byte)'S', (byte)'5', (byte)'_', 0x12, 0x07, 0x04, 0x0A, 0x05, 0, 0, 0 }, s5);
        Assert.Equal(new byte[] { 0x0D, (byte)'h', (byte)'i', 0 }, AmlEncoder.String("hi"));
        Assert.Throws<ArgumentException>(() => AmlEncoder.String("é"));
    }

    [Fact]
    public void DeviceAndBufferCarryCorrectLengths()
    {
        byte[] buffer = AmlEncoder.Buffer(new byte[] { 0x79, 0x00 });
        Assert.Equal(new byte[] { 0x11, 0x05, 0x0A, 0x02, 0x79, 0x00 }, buffer);

        byte[] device = AmlEncoder.Device("DEV0", AmlEncoder.Name("_UID", AmlEncoder.Integer(0)));
        // 5B 82, PkgLength, "DEV0", 08 "_UID" 00
        Assert.Equal(new byte[] { 0x5B, 0x82, 0x0B, (byte)'D', (byte)'E', (byte)'V', (byte)'0',
            0x08, (byte)'_', (byte)'U', (byte)'I', (byte)'D', 0x00 }, device);

        // A big device switches to a multi-byte PkgLength that still matches the real content length.
        byte[] big = AmlEncoder.Device("BIG0", AmlEncoder.Name("DATA", AmlEncoder.Buffer(new byte[300])));
        int leadCount = (big[2] >> 6) + 1;
        int encoded = (big[2] & 0x0F) | big[3] << 4;
        Assert.Equal(2, leadCount);
        Assert.Equal(big.Length - 2, encoded);
    }
}

public class AmlMethodEncodingTests
{
    [Fact]
    public void Method_body_statements_encode_as_the_spec_lays_them_out()
    {
        // Method(_EVT, 1, Serialized) { Store(ESEL, Local0) }
        Assert.Equal([0x14, 0x0C, .. "_EVT"u8, 0x09, 0x70, .. "ESEL"u8, 0x60],
            AmlEncoder.Method("_EVT", 1, serialized: true, AmlEncoder.Store(AmlEncoder.NameString("ESEL"), AmlEncoder.Local(0))));
        // If(And(Local0, One)) { Notify(\_SB.PWRB, 0x80) }
        Assert.Equal([0xA0, 0x12, 0x7B, 0x60, 0x01, 0x00, 0x86, 0x5C, 0x2E, .. "_SB_PWRB"u8, 0x0A, 0x80],
            AmlEncoder.If(AmlEncoder.And(AmlEncoder.Local(0), AmlEncoder.Integer(1)), AmlEncoder.Notify("\\_SB.PWRB", 0x80)));
        Assert.Equal([0x69], AmlEncoder.Arg(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => AmlEncoder.Local(8));
        Assert.Throws<ArgumentOutOfRangeException>(() => AmlEncoder.Method("_EVT", 8, false));
    }

    [Fact]
    public void Regions_and_fields_encode_with_raw_bit_widths()
    {
        // OperationRegion(EREG, SystemIO, 0x3C4, 1)
        Assert.Equal([0x5B, 0x80, .. "EREG"u8, 0x01, 0x0B, 0xC4, 0x03, 0x01],
            AmlEncoder.OperationRegion("EREG", AmlEncoder.RegionSpaceSystemIo, 0x3C4, 1));
        // Field(EREG, ByteAcc, NoLock, WriteAsZeros) { ESEL, 8, WIDE, 300 }: 300 bits need two length bytes (0x4C, 0x12).
        Assert.Equal([0x5B, 0x81, 0x11, .. "EREG"u8, 0x41, .. "ESEL"u8, 0x08, .. "WIDE"u8, 0x4C, 0x12],
            AmlEncoder.Field("EREG", AmlEncoder.FieldAccessByte | AmlEncoder.FieldUpdateWriteAsZeros, ("ESEL", 8), ("WIDE", 300)));
        Assert.Throws<ArgumentException>(() => AmlEncoder.Field("EREG", 0, ("LONGER", 8)));
    }
}
