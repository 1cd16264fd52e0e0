using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Machine.Boot;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Boot;

public class PvhLoaderTests
{
    private const ulong Mib = 1UL << 20;
    private const ulong StartInfo = 0x6000;                  // X86MemoryLayout.PvhStartInfoAddress
    private const ulong Rsdp = 0xE0000;

    private static byte[] Code(int length) => Enumerable.Range(0, length).Select(i => (byte)(0x90 ^ i)).ToArray();

    private static SyntheticElf KernelElf(bool is64 = true, int noteWidth = 8) => new()
    {
        Is64Bit = is64,
        Machine = (ushort)(is64 ? 62 : 3),
        Segments =
        [
            new(0x100_0000, Code(0x3000), 0x3000),
            new(0x100_4000, Code(0x800), 0x2_0000),            // data + bss
        ],
        Notes = [new("GNU", 3, new byte[20]), SyntheticElf.PvhEntryNote(0x100_0040, noteWidth)],
    };

    [Theory]
    [InlineData(true, 8)]
    [InlineData(true, 4)]
    [InlineData(false, 4)]
    public void LoadsSegmentsByPhysicalAddressAndEntersAtTheNote(bool is64, int noteWidth)
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        memory.Write(0x100_4000, Enumerable.Repeat((byte)0xAA, 0x2_0000).ToArray());   // stale bss contents
        var loaded = KernelLoader.Load(memory, KernelElf(is64, noteWidth).Build(), [], "console=hvc0", Rsdp);

        Assert.Equal(KernelImageFormat.PvhElf, loaded.Format);
        Assert.Equal(0x100_0040UL, loaded.EntryPoint);
        Assert.Equal(0x100_0000UL, loaded.KernelStart);
        Assert.Equal(0x102_4000UL, loaded.KernelEnd);
        Assert.Equal(Code(0x3000), memory.GetSpan(0x100_0000, 0x3000).ToArray());
        Assert.Equal(Code(0x800), memory.GetSpan(0x100_4000, 0x800).ToArray());
        Assert.All(memory.GetSpan(0x100_4800, 0x2_0000 - 0x800).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void StartInfoMemoryMapAndModuleFollowTheHvmStartInfoLayout()
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        byte[] initrd = Enumerable.Range(0, 10_000).Select(i => (byte)i).ToArray();
        var loaded = KernelLoader.Load(memory, KernelElf().Build(), initrd, "console=hvc0 rdinit=/init", Rsdp);

        var si = memory.GetSpan(StartInfo, 0x38).ToArray();
        Assert.Equal(0x336E_C578u, BinaryPrimitives.ReadUInt32LittleEndian(si));            // magic
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(si.AsSpan(0x04)));         // version
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(si.AsSpan(0x08)));         // flags
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(si.AsSpan(0x0C)));         // nr_modules
        ulong modlist = BinaryPrimitives.ReadUInt64LittleEndian(si.AsSpan(0x10));
        ulong cmdline = BinaryPrimitives.ReadUInt64LittleEndian(si.AsSpan(0x18));
        Assert.Equal(Rsdp, BinaryPrimitives.ReadUInt64LittleEndian(si.AsSpan(0x20)));       // rsdp_paddr
        ulong memmap = BinaryPrimitives.ReadUInt64LittleEndian(si.AsSpan(0x28));
        uint memmapEntries = BinaryPrimitives.ReadUInt32LittleEndian(si.AsSpan(0x30));

        Assert.Equal("console=hvc0 rdinit=/init\0", Encoding.ASCII.GetString(memory.GetSpan(cmdline, 26)));
        Assert.Equal(0x6100UL, memmap);
        Assert.Equal(3u, memmapEntries);
        (ulong, ulong, uint)[] expected = [(0, 0x9FC00, 1), (0x9FC00, 0x60400, 2), (0x100000, 63 * Mib, 1)];
        for (int i = 0; i < 3; i++)
        {
            var e = memory.GetSpan(memmap + (ulong)(24 * i), 24);
            Assert.Equal(expected[i], (BinaryPrimitives.ReadUInt64LittleEndian(e), BinaryPrimitives.ReadUInt64LittleEndian(e[8..]),
                BinaryPrimitives.ReadUInt32LittleEndian(e[16..])));
            Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(e[20..]));              // reserved
        }

        var module = memory.GetSpan(modlist, 32);
        ulong paddr = BinaryPrimitives.ReadUInt64LittleEndian(module);
        Assert.Equal(loaded.InitrdAddress, paddr);
        Assert.Equal((ulong)initrd.Length, BinaryPrimitives.ReadUInt64LittleEndian(module[8..]));
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(module[16..]));           // no module cmdline
        Assert.Equal(0UL, paddr % 4096);
        Assert.True(paddr >= loaded.KernelEnd);
        Assert.Equal(initrd, memory.GetSpan(paddr, initrd.Length).ToArray());
        Assert.True(modlist + 32 <= memmap, "the module list must not run into the memory map");
    }

    [Fact]
    public void WithoutInitrdThereAreNoModules()
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        var loaded = KernelLoader.Load(memory, KernelElf().Build(), [], "", Rsdp);
        Assert.Null(loaded.InitrdAddress);
        Assert.Equal(0u, memory.ReadUInt32(StartInfo + 0x0C));
        Assert.Equal(0UL, memory.ReadUInt64(StartInfo + 0x10));
    }

    [Fact]
    public void InitialCpuStateIsThePvhAbi()
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        var cpu = KernelLoader.Load(memory, KernelElf().Build(), [], "", Rsdp).BootCpu;

        Assert.Equal(0x100_0040UL, cpu.Registers.Rip);
        Assert.Equal(StartInfo, cpu.Registers.Rbx);
        Assert.Equal(0UL, cpu.Registers.Rflags & (1 << 9));
        Assert.Equal(1UL, cpu.Cr0 & 1);                                        // PE
        Assert.Equal(0UL, cpu.Cr0 & 0x8000_0000);                              // no paging
        Assert.Equal(0UL, cpu.Cr4);
        Assert.Equal(0UL, cpu.Efer);
        Assert.True(cpu.Cs.DefaultBig && !cpu.Cs.Long);
        Assert.Equal((0UL, 0xFFFF_FFFFu), (cpu.Cs.Base, cpu.Cs.Limit));
        Assert.Equal(0xB, cpu.Cs.Type & 0xB);                                  // execute/read
        foreach (var seg in new[] { cpu.Ds, cpu.Es, cpu.Ss })
        {
            Assert.True(seg.DefaultBig);
            Assert.Equal((0UL, 0xFFFF_FFFFu), (seg.Base, seg.Limit));
            Assert.Equal(3, seg.Type & 0x3);                                   // read/write
        }
        Assert.Equal(0xB, cpu.Tr.Type);                                        // busy 32-bit TSS

        // Reloading a selector from the in-memory GDT gives the same flat segments.
        ulong gdtBase = cpu.Gdt.Base;
        ulong code = memory.ReadUInt64(gdtBase + cpu.Cs.Selector), data = memory.ReadUInt64(gdtBase + cpu.Ds.Selector);
        ulong tss = memory.ReadUInt64(gdtBase + cpu.Tr.Selector);
        Assert.Equal(0x00CF_9B00_0000_FFFFUL, code);
        Assert.Equal(0x00CF_9300_0000_FFFFUL, data);
        Assert.Equal(0xBUL, (tss >> 40) & 0x1F);                               // system descriptor, busy TSS
        Assert.True(cpu.Gdt.Limit >= Math.Max(cpu.Cs.Selector, cpu.Ds.Selector) + 7);
    }

    [Fact]
    public void ElfWithoutThePvhNoteIsRefused()
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        var elf = KernelElf();
        elf.Notes.RemoveAll(n => n.Type == 18);
        var ex = Assert.Throws<KernelImageException>(() => KernelLoader.Load(memory, elf.Build(), [], "", Rsdp));
        Assert.Contains("XEN_ELFNOTE_PHYS32_ENTRY", ex.Message);

        // Type 18 under another owner is a different note.
        elf.Notes.Add(new SyntheticElf.Note("GNU", 18, new byte[8]));
        Assert.Throws<KernelImageException>(() => KernelLoader.Load(memory, elf.Build(), [], "", Rsdp));
    }

    [Fact]
    public void SegmentsOutsideGuestRamAreRefused()
    {
        using var memory = GuestMemory.CreateX86(32 * Mib);
        var elf = new SyntheticElf
        {
            Segments = [new(0x1F0_0000, Code(0x1000), 0x20_0000)],           // runs past 32 MiB
            Notes = [SyntheticElf.PvhEntryNote(0x1F0_0000)],
        };
        var ex = Assert.Throws<KernelImageException>(() => KernelLoader.Load(memory, elf.Build(), [], "", Rsdp));
        Assert.Contains("not inside guest RAM", ex.Message);

        var inHole = new SyntheticElf
        {
            Segments = [new(0xD000_0000, Code(0x1000), 0x1000)],
            Notes = [SyntheticElf.PvhEntryNote(0xD000_0000)],
        };
        ex = Assert.Throws<KernelImageException>(() => KernelLoader.Load(memory, inHole.Build(), [], "", Rsdp));
        Assert.Contains("not inside guest RAM", ex.Message);
    }

    [Fact]
    public void SegmentsBelowOneMibAreRefused()
    {
        using var memory = GuestMemory.CreateX86(32 * Mib);
        var elf = new SyntheticElf
        {
            Segments = [new(0x8000, Code(0x100), 0x100)],
            Notes = [SyntheticElf.PvhEntryNote(0x8000)],
        };
        var ex = Assert.Throws<KernelImageException>(() => KernelLoader.Load(memory, elf.Build(), [], "", Rsdp));
        Assert.Contains("below 1 MiB", ex.Message);
    }

    [Fact]
    public void EntryOutsideTheLoadedSegmentsIsRefused()
    {
        using var memory = GuestMemory.CreateX86(32 * Mib);
        var elf = new SyntheticElf
        {
            Segments = [new(0x10_0000, Code(0x100), 0x100)],
            Notes = [SyntheticElf.PvhEntryNote(0x20_0000)],
        };
        var ex = Assert.Throws<KernelImageException>(() => KernelLoader.Load(memory, elf.Build(), [], "", Rsdp));
        Assert.Contains("not inside any loaded ELF segment", ex.Message);
    }
}
