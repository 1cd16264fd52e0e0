using System.Buffers.Binary;

namespace Sharpvisor.Machine.Tests.Boot;

/// <summary>
/// Builds a bzImage-shaped file for tests: a boot sector and setup sectors carrying a setup header at the offsets
/// boot.rst documents (written here with literal offsets, independently of the loader's constants), then a
/// protected-mode "kernel" of recognisable bytes.
/// </summary>
public sealed class SyntheticBzImage
{
    public byte SetupSects { get; init; } = 4;
    public ushort BootFlag { get; init; } = 0xAA55;
    public uint Magic { get; init; } = 0x53726448;          // "HdrS"
    public ushort Version { get; init; } = 0x020F;
    public byte LoadFlags { get; init; } = 0x01;            // LOADED_HIGH
    public ushort XLoadFlags { get; init; } = 0x0003;       // XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
    public uint InitrdAddrMax { get; init; } = 0x7FFF_FFFF;
    public uint KernelAlignment { get; init; } = 0x20_0000;
    public bool Relocatable { get; init; } = true;
    public uint CmdlineSize { get; init; } = 2047;
    public ulong PrefAddress { get; init; } = 0x100_0000;   // 16 MiB, x86-64's default LOAD_PHYSICAL_ADDR
    public uint InitSize { get; init; } = 0x80_0000;        // 8 MiB
    public int KernelSize { get; init; } = 0x1_0000;

    public int SetupSize => ((SetupSects == 0 ? 4 : SetupSects) + 1) * 512;

    public static byte KernelByte(int offset) => (byte)(offset * 7 + 3);

    public byte[] Build()
    {
        var image = new byte[SetupSize + KernelSize];
        var s = image.AsSpan();
        s[0x1F1] = SetupSects;
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1FA..], 0xFFFF);      // vid_mode "normal"
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1FE..], BootFlag);
        s[0x200] = 0xEB;                                                   // jmp short, to 0x202 + 0x6A
        s[0x201] = 0x6A;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x202..], Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x206..], Version);
        s[0x210] = 0x00;
        s[0x211] = LoadFlags;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x214..], 0x10_0000);   // code32_start default
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x22C..], InitrdAddrMax);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x230..], KernelAlignment);
        s[0x234] = (byte)(Relocatable ? 1 : 0);
        s[0x235] = 21;                                                     // min_alignment 2 MiB
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x236..], XLoadFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x238..], CmdlineSize);
        BinaryPrimitives.WriteUInt64LittleEndian(s[0x258..], PrefAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x260..], InitSize);
        // Code bytes right after the header must not leak into boot_params.
        s[0x26C] = 0xCC;
        for (int i = 0; i < KernelSize; i++)
            image[SetupSize + i] = KernelByte(i);
        return image;
    }
}
