using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator.Tests.Memory;

/// <summary>Builds 4-level (IA-32e) page tables by hand in guest RAM, taking table pages from a bump allocator.</summary>
internal sealed class PageTableBuilder
{
    public const ulong P = 1, W = 2, U = 4, A = 0x20, D = 0x40, PS = 0x80, G = 0x100, XD = 1UL << 63;

    private readonly GuestMemory _ram;
    private ulong _next;

    public PageTableBuilder(GuestMemory ram, ulong tableArea)
    {
        _ram = ram;
        _next = tableArea;
        Root = AllocateTable();
    }

    /// <summary>The PML4's physical address (CR3).</summary>
    public ulong Root { get; }

    public ulong AllocateTable()
    {
        ulong table = _next;
        _next += 0x1000;
        _ram.Write(table, new byte[0x1000]);
        return table;
    }

    /// <summary>
    /// Maps <paramref name="linear"/> to <paramref name="physical"/> with a page of <paramref name="pageSize"/>
    /// (4 KiB, 2 MiB or 1 GiB) and <paramref name="leafFlags"/>, creating tables with <paramref name="tableFlags"/>.
    /// Returns the physical address of the leaf entry.
    /// </summary>
    public ulong Map(ulong linear, ulong physical, ulong leafFlags, ulong pageSize = 0x1000, ulong tableFlags = P | W | U)
    {
        int leafLevel = pageSize switch { 0x1000 => 1, 0x20_0000 => 2, 0x4000_0000 => 3, _ => throw new ArgumentException("page size") };
        ulong table = Root;
        for (int level = 4; ; level--)
        {
            ulong entryAddress = EntryAddress(table, linear, level);
            if (level == leafLevel)
            {
                _ram.WriteUInt64(entryAddress, physical | leafFlags | (leafLevel > 1 ? PS : 0));
                return entryAddress;
            }
            ulong entry = _ram.ReadUInt64(entryAddress);
            if ((entry & P) == 0)
            {
                entry = AllocateTable() | tableFlags;
                _ram.WriteUInt64(entryAddress, entry);
            }
            table = entry & 0x000F_FFFF_FFFF_F000;
        }
    }

    /// <summary>The physical address of the entry at <paramref name="level"/> (4 = PML4 .. 1 = PT) that maps <paramref name="linear"/>.</summary>
    public ulong Entry(ulong linear, int level)
    {
        ulong table = Root;
        for (int l = 4; l > level; l--) table = _ram.ReadUInt64(EntryAddress(table, linear, l)) & 0x000F_FFFF_FFFF_F000;
        return EntryAddress(table, linear, level);
    }

    public ulong Read(ulong entryAddress) => _ram.ReadUInt64(entryAddress);
    public void Write(ulong entryAddress, ulong value) => _ram.WriteUInt64(entryAddress, value);
    public void SetBits(ulong entryAddress, ulong bits) => Write(entryAddress, Read(entryAddress) | bits);
    public void ClearBits(ulong entryAddress, ulong bits) => Write(entryAddress, Read(entryAddress) & ~bits);

    private static ulong EntryAddress(ulong table, ulong linear, int level) => table + ((linear >> (12 + 9 * (level - 1))) & 511) * 8;
}
