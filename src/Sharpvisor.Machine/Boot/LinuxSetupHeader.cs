using System.Buffers.Binary;
using L = Sharpvisor.Machine.Boot.BootParamsLayout;

namespace Sharpvisor.Machine.Boot;

/// <summary>
/// The fields of a bzImage's setup header that a 64-bit boot loader needs (Documentation/arch/x86/boot.rst), parsed
/// and checked: boot flag, "HdrS" magic, protocol version 2.06 or newer, a protected-mode kernel loaded high and a
/// 64-bit entry point.
/// </summary>
public sealed record LinuxSetupHeader
{
    public const ushort MinimumVersion = 0x0206;
    /// <summary>xloadflags, and with it XLF_KERNEL_64, exists from protocol 2.12 on.</summary>
    public const ushort XLoadFlagsVersion = 0x020C;

    public byte SetupSectors { get; init; }
    public ushort Version { get; init; }
    public byte LoadFlags { get; init; }
    public ushort XLoadFlags { get; init; }
    public uint InitrdAddressMax { get; init; }
    public uint KernelAlignment { get; init; }
    public bool Relocatable { get; init; }
    public uint CommandLineSize { get; init; }
    public ulong PreferredAddress { get; init; }
    public uint InitSize { get; init; }
    /// <summary>First byte past the setup header (0x202 + the jump instruction's displacement byte).</summary>
    public int HeaderEnd { get; init; }

    /// <summary>The real-mode part: the boot sector plus setup_sects sectors (4 when the field says 0).</summary>
    public int SetupSize => ((SetupSectors == 0 ? 4 : SetupSectors) + 1) * 512;

    public static LinuxSetupHeader Parse(ReadOnlySpan<byte> image)
    {
        const int needed = L.KernelInfoOffset;
        if (image.Length < needed)
            throw new KernelImageException(
                $"kernel image is too short to be a bzImage: {image.Length} bytes, the setup header alone needs {needed}");
        ushort bootFlag = BinaryPrimitives.ReadUInt16LittleEndian(image[L.BootFlag..]);
        if (bootFlag != L.BootFlagValue)
            throw new KernelImageException($"not a bzImage: boot flag at 0x1FE is 0x{bootFlag:x4}, expected 0xaa55");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(image[L.HeaderMagic..]);
        if (magic != L.HeaderMagicValue)
            throw new KernelImageException($"not a bzImage: no \"HdrS\" setup header magic at 0x202 (found 0x{magic:x8})");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(image[L.Version..]);
        if (version < MinimumVersion)
            throw new KernelImageException(
                $"bzImage boot protocol {version >> 8}.{version & 0xFF:D2} is too old; 2.06 or newer is required");
        byte loadFlags = image[L.LoadFlags];
        if ((loadFlags & L.LoadFlagLoadedHigh) == 0)
            throw new KernelImageException("kernel image is a zImage (LOADED_HIGH clear); only bzImage kernels are supported");
        ushort xloadFlags = version >= XLoadFlagsVersion ? BinaryPrimitives.ReadUInt16LittleEndian(image[L.XLoadFlags..]) : (ushort)0;
        if ((xloadFlags & L.XLoadFlagKernel64) == 0)
            throw new KernelImageException(
                $"bzImage (boot protocol {version >> 8}.{version & 0xFF:D2}) has no 64-bit entry point (XLF_KERNEL_64 clear); " +
                "a 64-bit x86 kernel is required");

        int headerEnd = Math.Min(0x202 + image[L.Jump + 1], L.SetupHeaderLimit);
        var header = new LinuxSetupHeader
        {
            SetupSectors = image[L.SetupSects],
            Version = version,
            LoadFlags = loadFlags,
            XLoadFlags = xloadFlags,
            InitrdAddressMax = BinaryPrimitives.ReadUInt32LittleEndian(image[L.InitrdAddrMax..]),
            KernelAlignment = BinaryPrimitives.ReadUInt32LittleEndian(image[L.KernelAlignment..]),
            Relocatable = image[L.RelocatableKernel] != 0,
            CommandLineSize = BinaryPrimitives.ReadUInt32LittleEndian(image[L.CmdlineSize..]),
            PreferredAddress = BinaryPrimitives.ReadUInt64LittleEndian(image[L.PrefAddress..]),
            InitSize = BinaryPrimitives.ReadUInt32LittleEndian(image[L.InitSize..]),
            HeaderEnd = headerEnd,
        };
        if (image.Length <= header.SetupSize)
            throw new KernelImageException(
                $"bzImage is truncated: {image.Length} bytes, but its {header.SetupSize}-byte setup part leaves no kernel");
        return header;
    }
}
