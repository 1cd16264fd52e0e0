namespace Sharpvisor.TestGuests.Building;

/// <summary>
/// Where a test guest's pieces sit in guest-physical memory. The whole image is one PT_LOAD segment at 1 MiB; its
/// tables (GDT, TSS, IDT, page tables) are laid out by the builder ahead of time so the ring-0 entry path only has to
/// point the CPU at them, which keeps it to a few dozen instructions.
/// Nothing below 1 MiB is touched except reading hvm_start_info and the command line the loader put there.
/// </summary>
public static class GuestImageLayout
{
    public const ulong LoadAddress = 0x10_0000;

    /// <summary>The PVH entry point: 32-bit protected mode, paging off, EBX = hvm_start_info.</summary>
    public const ulong Entry32Address = LoadAddress;
    public const int Entry32MaxSize = 0x400;

    public const ulong GdtAddress = 0x10_0400;
    public const int GdtEntries = 7;                         // null, kcode, kdata, udata, ucode, TSS (2 slots)
    public const ulong GdtPointerAddress = 0x10_0440;
    public const ulong IdtPointerAddress = 0x10_0450;
    public const ulong TssAddress = 0x10_0480;
    public const int TssSize = 0x68;

    public const ulong IdtAddress = 0x10_1000;               // 256 gates of 16 bytes
    public const int IdtEntries = 256;

    public const ulong Pml4Address = 0x10_2000;
    public const ulong PdptAddress = 0x10_3000;
    public const ulong PageDirectoriesAddress = 0x10_4000;   // one per GiB, 2 MiB pages
    /// <summary>Identity-mapped with 2 MiB pages, user-accessible, writable; the last GiB (MMIO) uncached.</summary>
    public const int MappedGiB = 4;

    /// <summary>Variables of the guest, zero at start; a page of its own so writes never hit a page holding code.</summary>
    public const ulong DataAddress = 0x10_8000;
    public const int DataSize = 0x1000;
    /// <summary>The first data slot: the TSC read by the entry stub's first instruction.</summary>
    public const ulong EntryTimeStampAddress = DataAddress;

    /// <summary>The 64-bit code starts here and the 32-bit stub jumps to its first byte.</summary>
    public const ulong CodeAddress = 0x10_9000;
    public const ulong CodeLimit = 0x13_0000;

    public const ulong KernelStackTop = 0x13_4000;           // 16 KiB below it; also TSS.RSP0
    public const ulong UserStackTop = 0x14_4000;             // 64 KiB below it
    /// <summary>End of the PT_LOAD segment's memory size: stacks included, not stored in the file.</summary>
    public const ulong ImageEnd = UserStackTop;

    /// <summary>Guests that need a large buffer (memory-writer) take it from here up.</summary>
    public const ulong FreeMemoryStart = 0x100_0000;

    public const ushort KernelCodeSelector = 0x08;
    public const ushort KernelDataSelector = 0x10;
    public const ushort UserDataSelector = 0x18;
    public const ushort UserCodeSelector = 0x20;
    public const ushort TssSelector = 0x28;

    /// <summary>A gate callable from ring 3 that halts the CPU for good: how a guest stops after reporting.</summary>
    public const int HaltVector = 0x30;

    public const ulong LocalApicAddress = 0xFEE0_0000;
}
