using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Machine.Boot;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Boot;

public class BzImageLoaderTests
{
    private const ulong Mib = 1UL << 20;
    private const ulong BootParams = 0x7000;                 // X86MemoryLayout.BootParamsAddress
    private const ulong Rsdp = 0xE0000;

    private static LoadedKernel Load(GuestMemory memory, SyntheticBzImage image, byte[]? initrd = null,
        string cmdline = "console=ttyS0 root=/dev/vda") =>
        KernelLoader.Load(memory, image.Build(), initrd ?? [], cmdline, Rsdp);

    [Fact]
    public void KernelGoesToPrefAddressAndEntryIsStartup64()
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        var image = new SyntheticBzImage();
        var loaded = Load(memory, image);

        Assert.Equal(KernelImageFormat.BzImage, loaded.Format);
        Assert.Equal(0x100_0000UL, loaded.KernelStart);
        Assert.Equal(0x100_0200UL, loaded.EntryPoint);
        Assert.Equal(0x100_0000UL + 0x80_0000, loaded.KernelEnd);     // init_size covers the 64 KiB image
        var kernel = new byte[image.KernelSize];
        memory.Read(0x100_0000, kernel);
        for (int i = 0; i < kernel.Length; i += 997)
            Assert.Equal(SyntheticBzImage.KernelByte(i), kernel[i]);
        Assert.Equal(SyntheticBzImage.KernelByte(image.KernelSize - 1), kernel[^1]);
    }

    [Fact]
    public void RelocatableKernelWithoutUsablePrefAddressLoadsAtOneMib()
    {
        using var memory = GuestMemory.CreateX86(32 * Mib);
        var loaded = Load(memory, new SyntheticBzImage { PrefAddress = 0x8_0000 });
        Assert.Equal(0x10_0000UL, loaded.KernelStart);
        Assert.Equal(0x10_0200UL, loaded.EntryPoint);
        // It decompresses at 1 MiB rounded up to kernel_alignment (2 MiB), so it needs RAM up to 2 MiB + init_size.
        Assert.Equal(0x20_0000UL + 0x80_0000, loaded.KernelEnd);
    }

    [Fact]
    public void BootParamsFieldsSitAtTheDocumentedOffsets()
    {
        using var memory = GuestMemory.CreateX86(128 * Mib);
        memory.Write(BootParams, Enumerable.Repeat((byte)0x5A, 4096).ToArray());   // stale contents are cleared
        var image = new SyntheticBzImage();
        byte[] initrd = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 13)).ToArray();
        var loaded = Load(memory, image, initrd, "console=ttyS0 quiet");
        var bp = new byte[4096];
        memory.Read(BootParams, bp);

        // Setup header copied from the image (hdr at 0x1F1).
        Assert.Equal(4, bp[0x1F1]);                                            // setup_sects
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16LittleEndian(bp.AsSpan(0x1FA)));   // vid_mode
        Assert.Equal(0xAA55, BinaryPrimitives.ReadUInt16LittleEndian(bp.AsSpan(0x1FE)));   // boot_flag
        Assert.Equal("HdrS", Encoding.ASCII.GetString(bp, 0x202, 4));
        Assert.Equal(0x020F, BinaryPrimitives.ReadUInt16LittleEndian(bp.AsSpan(0x206)));
        Assert.Equal(0x20_0000u, BinaryPrimitives.ReadUInt32LittleEndian(bp.AsSpan(0x230)));  // kernel_alignment
        Assert.Equal(0x80_0000u, BinaryPrimitives.ReadUInt32LittleEndian(bp.AsSpan(0x260)));  // init_size
        Assert.Equal(0, bp[0x26C]);                                            // nothing past the header end copied
        Assert.Equal(0, bp[0x1EF]);                                            // sentinel
        Assert.Equal(0, bp[0x000]);                                            // screen_info cleared

        // Fields the loader fills in.
        Assert.Equal(0xFF, bp[0x210]);                                         // type_of_loader
        Assert.Equal(0x01, bp[0x211] & 0x01);                                  // loadflags LOADED_HIGH
        Assert.Equal(0x100_0000u, BinaryPrimitives.ReadUInt32LittleEndian(bp.AsSpan(0x214)));  // code32_start
        Assert.Equal(0x2_0000u, BinaryPrimitives.ReadUInt32LittleEndian(bp.AsSpan(0x228)));    // cmd_line_ptr
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(bp.AsSpan(0x0C8)));           // ext_cmd_line_ptr
        Assert.Equal("console=ttyS0 quiet\0", Encoding.ASCII.GetString(memory.GetSpan(0x2_0000, 20)));
        Assert.Equal(Rsdp, BinaryPrimitives.ReadUInt64LittleEndian(bp.AsSpan(0x070)));         // acpi_rsdp_addr

        uint ramdisk = BinaryPrimitives.ReadUInt32LittleEndian(bp.AsSpan(0x218));
        Assert.Equal(loaded.InitrdAddress, ramdisk);
        Assert.Equal((uint)initrd.Length, BinaryPrimitives.ReadUInt32LittleEndian(bp.AsSpan(0x21C)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(bp.AsSpan(0x0C0)));           // ext_ramdisk_image
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(bp.AsSpan(0x0C4)));           // ext_ramdisk_size
        var placed = new byte[initrd.Length];
        memory.Read(ramdisk, placed);
        Assert.Equal(initrd, placed);

        // E820: count at 0x1E8, 20-byte entries from 0x2D0.
        Assert.Equal(3, bp[0x1E8]);
        (ulong, ulong, uint)[] expected = [(0, 0x9FC00, 1), (0x9FC00, 0x100000 - 0x9FC00, 2), (0x100000, 127 * Mib, 1)];
        for (int i = 0; i < expected.Length; i++)
        {
            var entry = bp.AsSpan(0x2D0 + 20 * i);
            Assert.Equal(expected[i], (BinaryPrimitives.ReadUInt64LittleEndian(entry),
                BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]), BinaryPrimitives.ReadUInt32LittleEndian(entry[16..])));
        }
        Assert.All(bp.AsSpan(0x2D0 + 20 * 3, 20).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void InitrdIsPageAlignedHighAndClearOfTheKernel()
    {
        using var memory = GuestMemory.CreateX86(128 * Mib);
        byte[] initrd = new byte[5 * Mib + 123];
        var loaded = Load(memory, new SyntheticBzImage(), initrd);
        ulong at = loaded.InitrdAddress!.Value;
        Assert.Equal(0UL, at % 4096);
        Assert.True(at >= loaded.KernelEnd, $"initrd at 0x{at:x} overlaps the kernel ending at 0x{loaded.KernelEnd:x}");
        Assert.True(at + (ulong)initrd.Length <= 128 * Mib);
        Assert.True(128 * Mib - (at + (ulong)initrd.Length) < 4096, "placed as high as RAM allows");
    }

    [Fact]
    public void InitrdRespectsInitrdAddrMax()
    {
        using var memory = GuestMemory.CreateX86(256 * Mib);
        var loaded = Load(memory, new SyntheticBzImage { InitrdAddrMax = 0x37FF_FFFF >> 2 }, new byte[Mib]);
        ulong at = loaded.InitrdAddress!.Value;
        Assert.True(at + Mib - 1 <= 0x37FF_FFFF >> 2);
        Assert.True((0x37FF_FFFFUL >> 2) - (at + Mib - 1) < 4096);
    }

    [Fact]
    public void InitrdTooLargeForRamIsRefused()
    {
        using var memory = GuestMemory.CreateX86(32 * Mib);
        var ex = Assert.Throws<KernelImageException>(() => Load(memory, new SyntheticBzImage(), new byte[20 * Mib]));
        Assert.Contains("initrd", ex.Message);
    }

    [Fact]
    public void InitialCpuStateIsTheSixtyFourBitBootProtocol()
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        CpuState cpu = Load(memory, new SyntheticBzImage()).BootCpu;

        Assert.Equal(0x100_0200UL, cpu.Registers.Rip);
        Assert.Equal(BootParams, cpu.Registers.Rsi);
        Assert.Equal(0UL, cpu.Registers.Rflags & (1 << 9));                   // IF clear
        Assert.Equal(0x10, cpu.Cs.Selector);                                  // __BOOT_CS
        Assert.True(cpu.Cs.Long && !cpu.Cs.DefaultBig && cpu.Cs.Present && cpu.Cs.CodeOrData);
        foreach (var seg in new[] { cpu.Ds, cpu.Es, cpu.Ss })
        {
            Assert.Equal(0x18, seg.Selector);                                 // __BOOT_DS
            Assert.Equal(0UL, seg.Base);
            Assert.Equal(0xFFFF_FFFFu, seg.Limit);
            Assert.Equal(3, seg.Type & 0x3);                                  // read/write (accessed)
        }
        Assert.Equal(0x1UL | 0x8000_0000, cpu.Cr0 & 0x8000_0001);             // PE and PG
        Assert.Equal(0x20UL, cpu.Cr4 & 0x20);                                 // PAE
        Assert.Equal(0x500UL, cpu.Efer & 0x500);                              // LME and LMA
        Assert.Equal(0x9000UL, cpu.Cr3);
        Assert.Equal(0xB, cpu.Tr.Type);                                       // busy 64-bit TSS
        Assert.True(cpu.Tr.Present && !cpu.Tr.CodeOrData && !cpu.Tr.Unusable);
        Assert.Equal(0x500UL, cpu.Gdt.Base);
        Assert.Equal(0x1F, cpu.Gdt.Limit);

        // The GDT in memory describes the same segments.
        ulong code = memory.ReadUInt64(0x510), data = memory.ReadUInt64(0x518);
        Assert.Equal(1UL, (code >> 53) & 1);                                  // L
        Assert.Equal(0UL, (code >> 54) & 1);                                  // D must be 0 with L
        Assert.Equal(1UL, (code >> 47) & 1);                                  // present
        Assert.Equal(0xBUL, (code >> 40) & 0xF);                              // exec/read, accessed
        Assert.Equal(1UL, (data >> 47) & 1);
        Assert.Equal(0x3UL, (data >> 40) & 0xF);                              // read/write, accessed
        Assert.Equal(0xFFFFFUL, (data & 0xFFFF) | ((data >> 32) & 0xF0000));  // limit 0xFFFFF pages
    }

    public static TheoryData<string, Func<SyntheticBzImage>, string> BrokenImages => new()
    {
        { "no boot flag", () => new SyntheticBzImage { BootFlag = 0x1234 }, "boot flag" },
        { "no HdrS", () => new SyntheticBzImage { Magic = 0x11223344 }, "HdrS" },
        { "protocol 2.05", () => new SyntheticBzImage { Version = 0x0205 }, "too old" },
        { "protocol 2.11", () => new SyntheticBzImage { Version = 0x020B }, "64-bit" },
        { "no XLF_KERNEL_64", () => new SyntheticBzImage { XLoadFlags = 0 }, "XLF_KERNEL_64" },
        { "zImage", () => new SyntheticBzImage { LoadFlags = 0 }, "zImage" },
        { "no kernel after setup", () => new SyntheticBzImage { KernelSize = 0 }, "truncated" },
    };

    [Theory]
    [MemberData(nameof(BrokenImages))]
    public void BrokenImagesAreRefusedWithAReason(string what, Func<SyntheticBzImage> make, string reason)
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        var ex = Assert.Throws<KernelImageException>(() => BzImageLoader.Load(memory, make().Build(), [], "",
            Rsdp, E820Map.ForGuestMemory(memory)));
        Assert.True(ex.Message.Contains(reason), $"{what}: \"{ex.Message}\" should mention \"{reason}\"");
    }

    [Fact]
    public void TooShortImageIsRefused()
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        byte[] image = new SyntheticBzImage().Build()[..0x210];
        var ex = Assert.Throws<KernelImageException>(() =>
            BzImageLoader.Load(memory, image, [], "", Rsdp, E820Map.ForGuestMemory(memory)));
        Assert.Contains("too short", ex.Message);
    }

    [Fact]
    public void CommandLineLongerThanCmdlineSizeIsRefused()
    {
        using var memory = GuestMemory.CreateX86(64 * Mib);
        var image = new SyntheticBzImage { CmdlineSize = 16 };
        Load(memory, image, cmdline: new string('x', 16));
        var ex = Assert.Throws<KernelImageException>(() => Load(memory, image, cmdline: new string('x', 17)));
        Assert.Contains("at most 16", ex.Message);
    }

    [Fact]
    public void KernelThatDoesNotFitInRamIsRefused()
    {
        using var memory = GuestMemory.CreateX86(16 * Mib);
        // Relocatable or not, it decompresses at pref_address (16 MiB), beyond this guest's RAM.
        var ex = Assert.Throws<KernelImageException>(() => Load(memory, new SyntheticBzImage()));
        Assert.Contains("does not have", ex.Message);
        var fixedKernel = new SyntheticBzImage { Relocatable = false, PrefAddress = 0x40_0000, InitSize = 0x100_0000 };
        ex = Assert.Throws<KernelImageException>(() => Load(memory, fixedKernel));
        Assert.Contains("not relocatable", ex.Message);
    }
}
