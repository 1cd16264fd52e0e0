using System.Buffers.Binary;
using Sharpvisor.Machine.Boot;

namespace Sharpvisor.Machine.Tests.Boot;

public class ElfImageTests
{
    private static SyntheticElf Sample(bool is64) => new()
    {
        Is64Bit = is64,
        Machine = (ushort)(is64 ? 62 : 3),
        Segments = [new(0x20_0000, [1, 2, 3, 4], 0x1000), new(0x30_0000, [5], 1)],
        Notes = [new("GNU", 3, [9, 9, 9]), SyntheticElf.PvhEntryNote(0x20_0000, is64 ? 8 : 4)],
    };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ParsesLoadSegmentsAndNotes(bool is64)
    {
        var elf = ElfImage.Parse(Sample(is64).Build());
        Assert.Equal(is64, elf.Is64Bit);
        Assert.Equal(2, elf.LoadSegments.Count);
        Assert.Equal(0x20_0000UL, elf.LoadSegments[0].PhysicalAddress);
        Assert.Equal(4UL, elf.LoadSegments[0].FileSize);
        Assert.Equal(0x1000UL, elf.LoadSegments[0].MemorySize);
        Assert.Equal(2, elf.Notes.Count);
        Assert.Equal(("GNU", 3u, 3), (elf.Notes[0].Name, elf.Notes[0].Type, elf.Notes[0].Descriptor.Length));
        Assert.Equal(("Xen", 18u), (elf.Notes[1].Name, elf.Notes[1].Type));
        Assert.Equal(0x20_0000UL, PvhLoader.FindPhys32Entry(elf));
    }

    [Fact]
    public void RefusesFilesThatAreNotLoadableX86Elf()
    {
        byte[] good = Sample(true).Build();

        byte[] bigEndian = (byte[])good.Clone();
        bigEndian[5] = 2;
        Assert.Contains("little-endian", Assert.Throws<KernelImageException>(() => ElfImage.Parse(bigEndian)).Message);

        byte[] arm = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(arm.AsSpan(18), 183);       // EM_AARCH64
        Assert.Contains("not x86", Assert.Throws<KernelImageException>(() => ElfImage.Parse(arm)).Message);

        byte[] relocatable = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(relocatable.AsSpan(16), 1); // ET_REL
        Assert.Contains("not an executable", Assert.Throws<KernelImageException>(() => ElfImage.Parse(relocatable)).Message);

        Assert.Contains("truncated", Assert.Throws<KernelImageException>(() => ElfImage.Parse(good[..290])).Message);
        Assert.Contains("truncated", Assert.Throws<KernelImageException>(() => ElfImage.Parse(good[..40])).Message);

        byte[] badNote = (byte[])good.Clone();
        // The first note starts right after the header and three program headers; claim a huge descriptor.
        BinaryPrimitives.WriteUInt32LittleEndian(badNote.AsSpan(64 + 3 * 56 + 4), 0x100000);
        Assert.Contains("past the segment", Assert.Throws<KernelImageException>(() => ElfImage.Parse(badNote)).Message);
    }

    [Fact]
    public void RefusesBadPhys32EntryNotes()
    {
        var wide = new SyntheticElf
        {
            Segments = [new(0x20_0000, [1], 1)],
            Notes = [new("Xen", 18, new byte[2])],
        };
        Assert.Contains("2-byte", Assert.Throws<KernelImageException>(
            () => PvhLoader.FindPhys32Entry(ElfImage.Parse(wide.Build()))).Message);

        var high = new SyntheticElf
        {
            Segments = [new(0x20_0000, [1], 1)],
            Notes = [SyntheticElf.PvhEntryNote(0x1_0000_0000)],
        };
        Assert.Contains("above 4 GiB", Assert.Throws<KernelImageException>(
            () => PvhLoader.FindPhys32Entry(ElfImage.Parse(high.Build()))).Message);
    }
}
