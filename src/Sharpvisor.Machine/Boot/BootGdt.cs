using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Boot;

/// <summary>
/// The GDT a kernel is entered with, written at <see cref="X86MemoryLayout.GdtAddress"/> (four 8-byte entries,
/// 0x500-0x51F, ending where the IDT slot at 0x520 starts), and the matching segment registers. Code is at 0x10 and
/// data at 0x18 in both modes, Linux's __BOOT_CS and __BOOT_DS.
/// </summary>
public static class BootGdt
{
    public const ushort CodeSelector = 0x10, DataSelector = 0x18, TssSelector = 0x08;
    public const int EntryCount = 4;
    /// <summary>A minimal TSS: 104 bytes, limit 0x67. Its base is never dereferenced before the kernel loads its own.</summary>
    public const uint TssLimit = 0x67;

    public const ulong NullDescriptor = 0;
    public const ulong FlatCode64 = 0x00AF_9B00_0000_FFFF;      // P, DPL0, S, exec/read accessed, G, L
    public const ulong FlatCode32 = 0x00CF_9B00_0000_FFFF;      // P, DPL0, S, exec/read accessed, G, D
    public const ulong FlatData = 0x00CF_9300_0000_FFFF;        // P, DPL0, S, read/write accessed, G, B
    public const ulong BusyTss32 = 0x0000_8B00_0000_0067;       // P, system type 0xB (busy 32-bit TSS), base 0

    /// <summary>
    /// The long-mode GDT: null, (unused), 64-bit code, data. A 64-bit TSS descriptor needs 16 bytes, which do not
    /// fit before the IDT slot, so TR is only set up in the CPU's hidden state (VM entry checks that, not the GDT);
    /// the kernel loads its own GDT and TR long before it could reload TR from this table.
    /// </summary>
    public static DescriptorTable WriteLongMode(GuestMemory memory) =>
        Write(memory, [NullDescriptor, NullDescriptor, FlatCode64, FlatData]);

    /// <summary>The 32-bit protected-mode GDT for PVH: null, busy 32-bit TSS, 32-bit code, data.</summary>
    public static DescriptorTable WriteProtectedMode(GuestMemory memory) =>
        Write(memory, [NullDescriptor, BusyTss32, FlatCode32, FlatData]);

    /// <summary>TR for long mode: a busy 64-bit TSS (type 0xB) with selector 0, present only in hidden state.</summary>
    public static SegmentRegister LongModeTaskRegister() => SegmentRegister.TaskState(0, 0, TssLimit);

    /// <summary>TR for 32-bit protected mode: the busy 32-bit TSS the GDT describes at 0x08.</summary>
    public static SegmentRegister ProtectedModeTaskRegister() => SegmentRegister.TaskState(TssSelector, 0, TssLimit);

    private static DescriptorTable Write(GuestMemory memory, ulong[] descriptors)
    {
        for (int i = 0; i < descriptors.Length; i++)
            memory.WriteUInt64(X86MemoryLayout.GdtAddress + (ulong)(8 * i), descriptors[i]);
        return new DescriptorTable(X86MemoryLayout.GdtAddress, (ushort)(8 * descriptors.Length - 1));
    }
}
