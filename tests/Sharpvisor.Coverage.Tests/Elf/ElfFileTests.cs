using Sharpvisor.Coverage.Elf;

namespace Sharpvisor.Coverage.Tests.Elf;

public class ElfFileTests
{
    private static readonly byte[] Code = [0x48, 0x01, 0xD8, 0xC3]; // add rax, rbx; ret

    [Fact]
    public void ReadsSectionNamesFlagsAndBytes()
    {
        byte[] file = TestElfBuilder.WithSections(
            new(".text", 1, 0x6, 0x401000, Code),
            new(".data", 1, 0x3, 0x402000, [1, 2, 3]),
            new(".bss", 8, 0x3, 0x403000, new byte[16]),
            new(".init.text", 1, 0x6, 0x404000, [0x90, 0xC3]));
        var elf = ElfFile.Parse(file);

        Assert.Equal(62, elf.Machine);
        Assert.Equal([".text", ".data", ".bss", ".init.text", ".shstrtab"], elf.Sections.Skip(1).Select(s => s.Name));
        var text = elf.FindSection(".text")!;
        Assert.True(text.IsExecutable);
        Assert.Equal(0x401000UL, text.Address);
        Assert.Equal(Code, elf.GetBytes(text).ToArray());
        Assert.False(elf.FindSection(".data")!.IsExecutable);
        Assert.True(elf.GetBytes(elf.FindSection(".bss")!).IsEmpty);

        var regions = elf.ExecutableRegions();
        Assert.Equal([".text", ".init.text"], regions.Select(r => r.Name));
        Assert.Equal(0x404000UL, regions[1].Address);
        Assert.Equal([0x90, 0xC3], regions[1].Bytes.ToArray());
    }

    [Fact]
    public void WithoutSectionHeadersUsesExecutableLoadSegments()
    {
        byte[] file = TestElfBuilder.WithSegmentsOnly(
            new(1, 0x4, 0x400000, [0xAA, 0xBB]),      // PT_LOAD, read-only
            new(1, 0x5, 0x401000, Code),               // PT_LOAD, read + execute
            new(4, 0x5, 0x500000, [0xCC]));            // PT_NOTE, not loaded
        var elf = ElfFile.Parse(file);

        Assert.Empty(elf.Sections);
        Assert.Equal(3, elf.Segments.Count);
        var region = Assert.Single(elf.ExecutableRegions());
        Assert.Equal("PT_LOAD[1]", region.Name);
        Assert.Equal(0x401000UL, region.Address);
        Assert.Equal(Code, region.Bytes.ToArray());
    }

    [Fact]
    public void RejectsNonElfAndTruncatedFiles()
    {
        Assert.Throws<InvalidDataException>(() => ElfFile.Parse(new byte[64]));
        byte[] file = TestElfBuilder.WithSections(new TestElfBuilder.Section(".text", 1, 0x6, 0x401000, Code));
        Assert.Throws<InvalidDataException>(() => ElfFile.Parse(file[..^10])); // section headers cut off
        byte[] elf32 = (byte[])file.Clone();
        elf32[4] = 1;
        Assert.Throws<InvalidDataException>(() => ElfFile.Parse(elf32));
    }
}
