namespace Sharpvisor.Machine.Boot;

/// <summary>
/// Offsets in struct boot_params (the "zero page") and in the setup header embedded in it at 0x1F1, as
/// Documentation/arch/x86/boot.rst and zero-page.rst give them. Setup header offsets are the same in the bzImage
/// file and in boot_params.
/// </summary>
public static class BootParamsLayout
{
    public const int Size = 4096;

    // boot_params
    public const int AcpiRsdpAddr = 0x070;             // u64
    public const int ExtRamdiskImage = 0x0C0;          // u32, bits 63:32 of ramdisk_image
    public const int ExtRamdiskSize = 0x0C4;           // u32
    public const int ExtCmdLinePtr = 0x0C8;            // u32
    public const int E820Entries = 0x1E8;              // u8
    public const int Sentinel = 0x1EF;                 // u8, must stay 0 so the kernel knows we cleared boot_params
    public const int SetupHeader = 0x1F1;
    public const int E820Table = 0x2D0;                // 128 entries of 20 bytes

    // setup header
    public const int SetupSects = 0x1F1;               // u8; 0 means 4
    public const int SysSize = 0x1F4;                  // u32, protected-mode code size in 16-byte units
    public const int VidMode = 0x1FA;                  // u16
    public const int BootFlag = 0x1FE;                 // u16, 0xAA55
    public const int Jump = 0x200;                     // u16; its second byte + 0x202 is the end of the header
    public const int HeaderMagic = 0x202;              // u32, "HdrS"
    public const int Version = 0x206;                  // u16
    public const int TypeOfLoader = 0x210;             // u8
    public const int LoadFlags = 0x211;                // u8
    public const int Code32Start = 0x214;              // u32
    public const int RamdiskImage = 0x218;             // u32
    public const int RamdiskSize = 0x21C;              // u32
    public const int HeapEndPtr = 0x224;               // u16
    public const int CmdLinePtr = 0x228;               // u32
    public const int InitrdAddrMax = 0x22C;            // u32
    public const int KernelAlignment = 0x230;          // u32
    public const int RelocatableKernel = 0x234;        // u8
    public const int MinAlignment = 0x235;             // u8, log2
    public const int XLoadFlags = 0x236;               // u16
    public const int CmdlineSize = 0x238;              // u32
    public const int HardwareSubarch = 0x23C;          // u32
    public const int SetupData = 0x250;                // u64
    public const int PrefAddress = 0x258;              // u64
    public const int InitSize = 0x260;                 // u32
    public const int HandoverOffset = 0x264;           // u32
    public const int KernelInfoOffset = 0x268;         // u32

    /// <summary>The setup header may not extend past here: edd_mbr_sig_buffer follows.</summary>
    public const int SetupHeaderLimit = 0x290;

    public const uint HeaderMagicValue = 0x5372_6448;  // "HdrS"
    public const ushort BootFlagValue = 0xAA55;
    public const byte LoaderTypeUndefined = 0xFF;
    public const byte LoadFlagLoadedHigh = 1 << 0, LoadFlagKeepSegments = 1 << 6, LoadFlagCanUseHeap = 1 << 7;
    public const ushort XLoadFlagKernel64 = 1 << 0, XLoadFlagCanBeLoadedAbove4G = 1 << 1;
}
