namespace Sharpvisor.Machine.Memory;

/// <summary>
/// Where things live in the guest-physical address space of our x86 machine. RAM starts at 0; the top of the 32-bit
/// space is a hole for MMIO (PCI BARs, IOAPIC, LAPIC); RAM beyond the hole continues at 4 GiB.
/// </summary>
public static class X86MemoryLayout
{
    public const ulong MmioHoleStart = 0xC000_0000;          // 3 GiB
    public const ulong MmioHoleEnd = 0x1_0000_0000;          // 4 GiB
    public const ulong PciMmioStart = 0xC000_0000;           // 32-bit PCI BARs
    public const ulong PciMmioEnd = 0xFEC0_0000;
    public const ulong IoApicAddress = 0xFEC0_0000;
    public const ulong LocalApicAddress = 0xFEE0_0000;
    public const ulong HighRamStart = MmioHoleEnd;

    // Low-memory boot structures, all below the EBDA at 0x9FC00.
    public const ulong GdtAddress = 0x500;
    public const ulong IdtAddress = 0x520;
    public const ulong PvhStartInfoAddress = 0x6000;
    public const ulong PvhMemMapAddress = 0x6100;
    public const ulong BootParamsAddress = 0x7000;
    public const ulong PageTablesAddress = 0x9000;           // PML4, PDPT and PDs for identity mapping, 0x9000-0xEFFF
    public const ulong BootStackTop = 0x8FF0;
    public const ulong CommandLineAddress = 0x20000;
    public const int CommandLineMax = 0x10000;
    public const ulong EbdaStart = 0x9FC00;
    public const ulong AcpiTablesAddress = 0xE0000;          // RSDP is found by scanning 0xE0000-0xFFFFF
    public const ulong AcpiTablesEnd = 0xFFFF0;               // the reset vector's 16 bytes follow (Boot.ResetVector)
    public const ulong KernelLoadAddress = 0x100000;         // 1 MiB, where bzImage's protected-mode part goes

    /// <summary>The RAM blocks for a guest of <paramref name="ramSize"/> bytes: below the hole, then above 4 GiB.</summary>
    public static IReadOnlyList<(ulong Start, ulong Size)> RamBlocks(ulong ramSize)
    {
        if (ramSize < 16UL << 20)
            throw new ArgumentOutOfRangeException(nameof(ramSize), "a guest needs at least 16 MiB of memory");
        if (ramSize <= MmioHoleStart)
            return [(0, ramSize)];
        return [(0, MmioHoleStart), (HighRamStart, ramSize - MmioHoleStart)];
    }
}
