using System.Buffers.Binary;
using Sharpvisor.Machine.Acpi;
using Sharpvisor.Machine.Boot;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Boot;

public class KernelLoaderTests
{
    private const ulong Mib = 1UL << 20;

    [Fact]
    public void DetectsTheFormatFromTheBytes()
    {
        Assert.Equal(KernelImageFormat.BzImage, KernelLoader.DetectFormat(new SyntheticBzImage().Build()));
        Assert.Equal(KernelImageFormat.PvhElf, KernelLoader.DetectFormat(new SyntheticElf().Build()));
        // Only one of the two bzImage markers still goes to the bzImage parser, which then says what is wrong.
        Assert.Equal(KernelImageFormat.BzImage, KernelLoader.DetectFormat(new SyntheticBzImage { Magic = 0 }.Build()));
        Assert.Equal(KernelImageFormat.BzImage, KernelLoader.DetectFormat(new SyntheticBzImage { BootFlag = 0 }.Build()));
        var ex = Assert.Throws<KernelImageException>(() => KernelLoader.DetectFormat(new byte[4096]));
        Assert.Contains("neither an ELF file nor a Linux bzImage", ex.Message);
        Assert.Throws<KernelImageException>(() => KernelLoader.DetectFormat([]));
    }

    [Fact]
    public void BzImageBootParamsPointAtTheAcpiTables()
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        var tables = new AcpiTableBuilder([0, 1, 2, 3]).WriteTo(memory);
        var loaded = KernelLoader.Load(memory, new SyntheticBzImage().Build(), [], "console=ttyS0", tables.RsdpAddress);

        ulong rsdp = memory.ReadUInt64(loaded.BootInfoAddress + 0x070);
        Assert.Equal("RSD PTR "u8.ToArray(), memory.GetSpan(rsdp, 8).ToArray());
        Assert.True(AcpiChecksum.IsValid(memory.GetSpan(rsdp, 36)));
        // Nothing the loader wrote clobbered the tables.
        foreach (var t in tables.Tables)
            Assert.Equal(t.Bytes, memory.GetSpan(t.Address, t.Bytes.Length).ToArray());
    }

    [Fact]
    public void PvhStartInfoPointsAtTheAcpiTables()
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        var tables = new AcpiTableBuilder([0]).WriteTo(memory);
        var elf = new SyntheticElf
        {
            Segments = [new(0x100_0000, new byte[0x1000], 0x1000)],
            Notes = [SyntheticElf.PvhEntryNote(0x100_0000)],
        };
        var loaded = KernelLoader.Load(memory, elf.Build(), [1, 2, 3], "", tables.RsdpAddress);
        Assert.Equal(tables.RsdpAddress, memory.ReadUInt64(loaded.BootInfoAddress + 0x20));
        foreach (var t in tables.Tables)
            Assert.Equal(t.Bytes, memory.GetSpan(t.Address, t.Bytes.Length).ToArray());
    }

    [Fact]
    public void LargeGuestMemoryMapReachesTheKernel()
    {
        using var memory = GuestMemory.CreateX86(6UL << 30);
        var loaded = KernelLoader.Load(memory, new SyntheticBzImage().Build(), [], "", 0);
        Assert.Equal(4, memory.ReadByte(0x7000 + 0x1E8));
        var last = memory.GetSpan(0x7000 + 0x2D0 + 3 * 20, 20);
        Assert.Equal(0x1_0000_0000UL, BinaryPrimitives.ReadUInt64LittleEndian(last));
        Assert.Equal(3UL << 30, BinaryPrimitives.ReadUInt64LittleEndian(last[8..]));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(last[16..]));
        Assert.Equal(4, loaded.MemoryMap.Entries.Count);
    }
}
