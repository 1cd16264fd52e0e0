using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Machine.Acpi;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Acpi;

public class AcpiTableBuilderTests
{
    private static AcpiTables BuildFor(int vcpus) =>
        new AcpiTableBuilder(Enumerable.Range(0, vcpus).Select(i => (uint)i).ToArray()).Build();

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(300)]
    public void EveryTableHasAValidChecksumAndItsLength(int vcpus)
    {
        var tables = BuildFor(vcpus);
        foreach (var t in tables.Tables.Where(t => t.Signature != AcpiTableBuilder.RsdpSignature))
        {
            Assert.True(AcpiChecksum.IsValid(t.Bytes), $"{t.Signature} checksum");
            Assert.Equal(t.Signature, Encoding.ASCII.GetString(t.Bytes, 0, 4));
            Assert.Equal((uint)t.Bytes.Length, BinaryPrimitives.ReadUInt32LittleEndian(t.Bytes.AsSpan(4)));
        }
        byte[] rsdp = tables["RSD PTR "].Bytes;
        Assert.True(AcpiChecksum.IsValid(rsdp.AsSpan(0, 20)), "RSDP 1.0 checksum");
        Assert.True(AcpiChecksum.IsValid(rsdp), "RSDP extended checksum");
        Assert.True(tables.EndAddress <= 0x100000);
    }

    [Fact]
    public void RsdpPointsAtXsdtAndRsdtWhichPointAtFadtAndMadt()
    {
        var tables = BuildFor(2);
        byte[] rsdp = tables["RSD PTR "].Bytes;
        Assert.Equal(0xE0000UL, tables.RsdpAddress);
        Assert.Equal(0UL, tables.RsdpAddress % 16);
        Assert.Equal("RSD PTR ", Encoding.ASCII.GetString(rsdp, 0, 8));
        Assert.Equal(2, rsdp[15]);                                    // revision
        Assert.Equal(36u, BinaryPrimitives.ReadUInt32LittleEndian(rsdp.AsSpan(20)));
        Assert.Equal(tables["RSDT"].Address, BinaryPrimitives.ReadUInt32LittleEndian(rsdp.AsSpan(16)));
        Assert.Equal(tables["XSDT"].Address, BinaryPrimitives.ReadUInt64LittleEndian(rsdp.AsSpan(24)));

        byte[] xsdt = tables["XSDT"].Bytes;
        Assert.Equal(36 + 16, xsdt.Length);
        Assert.Equal(tables["FACP"].Address, BinaryPrimitives.ReadUInt64LittleEndian(xsdt.AsSpan(36)));
        Assert.Equal(tables["APIC"].Address, BinaryPrimitives.ReadUInt64LittleEndian(xsdt.AsSpan(44)));
        byte[] rsdt = tables["RSDT"].Bytes;
        Assert.Equal(tables["FACP"].Address, BinaryPrimitives.ReadUInt32LittleEndian(rsdt.AsSpan(36)));
        Assert.Equal(tables["APIC"].Address, BinaryPrimitives.ReadUInt32LittleEndian(rsdt.AsSpan(40)));
    }

    [Fact]
    public void FadtIsHardwareReducedWithSleepAndResetRegisters()
    {
        var tables = BuildFor(1);
        byte[] f = tables["FACP"].Bytes;
        Assert.Equal(276, f.Length);
        Assert.Equal(6, f[8]);                                        // major revision
        Assert.Equal(3, f[131]);                                      // minor revision
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(112));
        Assert.NotEqual(0u, flags & (1u << 20));                      // HW_REDUCED_ACPI
        Assert.NotEqual(0u, flags & (1u << 10));                      // RESET_REG_SUP
        ushort bootArch = BinaryPrimitives.ReadUInt16LittleEndian(f.AsSpan(109));
        Assert.Equal(0b000111, bootArch & 0b111111);                  // legacy devices, 8042, no VGA; RTC present, MSI ok

        Assert.Equal(tables["DSDT"].Address, BinaryPrimitives.ReadUInt64LittleEndian(f.AsSpan(140)));   // X_DSDT
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(36)));                        // no FACS
        for (int legacy = 56; legacy < 88; legacy += 4)                                                  // PM1/PM2/PMTMR/GPE
            Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(legacy)));

        AssertIoGas(f.AsSpan(116), 0x3C2);                            // RESET_REG
        Assert.Equal(1, f[128]);                                      // RESET_VALUE
        AssertIoGas(f.AsSpan(244), 0x3C0);                            // SLEEP_CONTROL_REG
        AssertIoGas(f.AsSpan(256), 0x3C1);                            // SLEEP_STATUS_REG
    }

    private static void AssertIoGas(ReadOnlySpan<byte> gas, ulong port)
    {
        Assert.Equal(1, gas[0]);                                      // system I/O space
        Assert.Equal(8, gas[1]);                                      // 8 bits wide
        Assert.Equal(0, gas[2]);
        Assert.Equal(1, gas[3]);                                      // byte access
        Assert.Equal(port, BinaryPrimitives.ReadUInt64LittleEndian(gas[4..]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(64)]
    public void MadtHasOneEnabledLocalApicPerVcpuAndTheIoApic(int vcpus)
    {
        uint[] ids = Enumerable.Range(0, vcpus).Select(i => (uint)(i * 2)).ToArray();   // sparse ids as with SMT off
        var tables = new AcpiTableBuilder(ids) { IoApic = new IoApicDescription(Id: 0xF0, GsiBase: 0) }.Build();
        var entries = MadtEntries(tables["APIC"].Bytes);

        Assert.Equal(0xFEE0_0000u, BinaryPrimitives.ReadUInt32LittleEndian(tables["APIC"].Bytes.AsSpan(36)));
        var lapics = entries.Where(e => e[0] == 0).ToList();
        Assert.Equal(vcpus, lapics.Count);
        for (int i = 0; i < vcpus; i++)
        {
            Assert.Equal(8, lapics[i][1]);
            Assert.Equal(i, lapics[i][2]);                           // processor UID = index
            Assert.Equal(ids[i], lapics[i][3]);                      // APIC id
            Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(lapics[i].AsSpan(4)));
        }
        var ioapic = Assert.Single(entries, e => e[0] == 1);
        Assert.Equal(0xF0, ioapic[2]);
        Assert.Equal(0xFEC0_0000u, BinaryPrimitives.ReadUInt32LittleEndian(ioapic.AsSpan(4)));
        var iso = Assert.Single(entries, e => e[0] == 2);
        Assert.Equal(0, iso[3]);                                      // ISA IRQ 0
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(iso.AsSpan(4)));   // -> GSI 2
        var nmi = Assert.Single(entries, e => e[0] == 4);
        Assert.Equal(0xFF, nmi[2]);                                   // all processors
        Assert.Equal(1, nmi[5]);                                      // LINT1
    }

    [Fact]
    public void LargeApicIdsUseX2ApicEntries()
    {
        uint[] ids = [0, 1, 300];
        var entries = MadtEntries(new AcpiTableBuilder(ids).Build()["APIC"].Bytes);
        Assert.Equal(2, entries.Count(e => e[0] == 0));
        var x2 = Assert.Single(entries, e => e[0] == 9);
        Assert.Equal(300u, BinaryPrimitives.ReadUInt32LittleEndian(x2.AsSpan(4)));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(x2.AsSpan(12)));   // UID
        var x2nmi = Assert.Single(entries, e => e[0] == 0x0A);
        Assert.Equal(0xFFFF_FFFFu, BinaryPrimitives.ReadUInt32LittleEndian(x2nmi.AsSpan(4)));
        Assert.Equal(1, x2nmi[8]);
    }

    [Fact]
    public void InvalidProcessorListsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new AcpiTableBuilder([]));
        Assert.Throws<ArgumentException>(() => new AcpiTableBuilder([1, 1]).Build());
    }

    [Fact]
    public void TooManyProcessorsForTheAcpiAreaAreRefused()
    {
        // x2APIC entries take 16 bytes: ~8000 of them overflow the 128 KiB between 0xE0000 and 1 MiB.
        var ids = Enumerable.Range(0, 9000).Select(i => (uint)i).ToArray();
        var ex = Assert.Throws<InvalidOperationException>(() => new AcpiTableBuilder(ids).Build());
        Assert.Contains("more than fit", ex.Message);
    }

    [Fact]
    public void DsdtContainsTheDevicesAndSleepPackage()
    {
        byte[] dsdt = BuildFor(1)["DSDT"].Bytes;
        Assert.Equal(2, dsdt[8]);
        byte[] aml = dsdt[36..];
        Assert.True(Contains(aml, [0x08, 0x5C, .. "_S5_"u8, 0x12, 0x07, 0x04, 0x0A, 0x05, 0x00, 0x00, 0x00]), "\\_S5 {5,0,0,0}");
        Assert.True(Contains(aml, [0x08, .. "_HID"u8, 0x0C, 0x41, 0xD0, 0x0A, 0x08]), "PCI0 _HID PNP0A08");
        Assert.True(Contains(aml, [0x08, .. "_CID"u8, 0x0C, 0x41, 0xD0, 0x0A, 0x03]), "PCI0 _CID PNP0A03");
        Assert.True(Contains(aml, [0x08, .. "_HID"u8, 0x0C, 0x41, 0xD0, 0x05, 0x01]), "COM1 _HID PNP0501");
        Assert.True(Contains(aml, [0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08]), "IO 0xCF8/8");
        Assert.True(Contains(aml, [0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00]), "COM1 IO and IRQ 4");
    }

    [Fact]
    public void WriteToPlacesEveryTableInGuestMemory()
    {
        using var memory = GuestMemory.CreateX86(32UL << 20);
        memory.Write(0xFFFE0, [0xAA, 0xBB]);                          // stale bytes are cleared (the reset vector follows at 0xFFFF0)
        var tables = new AcpiTableBuilder([0, 1]).WriteTo(memory);
        foreach (var t in tables.Tables)
        {
            var inMemory = new byte[t.Bytes.Length];
            memory.Read(t.Address, inMemory);
            Assert.Equal(t.Bytes, inMemory);
        }
        Assert.Equal(0, memory.ReadByte(0xFFFE0));
        Assert.Equal("RSD PTR "u8.ToArray(), memory.GetSpan(tables.RsdpAddress, 8).ToArray());
    }

    internal static List<byte[]> MadtEntries(byte[] madt)
    {
        var entries = new List<byte[]>();
        for (int pos = 44; pos < madt.Length;)
        {
            int len = madt[pos + 1];
            Assert.True(len >= 2, "MADT entry length");
            entries.Add(madt[pos..(pos + len)]);
            pos += len;
        }
        return entries;
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
