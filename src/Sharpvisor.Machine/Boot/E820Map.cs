using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Boot;

/// <summary>
/// The memory map a guest's kernel is told about: sorted, non-overlapping, adjacent ranges of one type merged.
/// </summary>
public sealed class E820Map
{
    /// <summary>boot_params has room for 128 entries (e820_table).</summary>
    public const int MaxBootParamsEntries = 128;

    public IReadOnlyList<E820Entry> Entries { get; }

    public E820Map(IEnumerable<E820Entry> entries)
    {
        var sorted = entries.Where(e => e.Size > 0).OrderBy(e => e.Address).ToList();
        var merged = new List<E820Entry>();
        foreach (var e in sorted)
        {
            if (e.Address + e.Size < e.Address)
                throw new ArgumentException($"memory map entry 0x{e.Address:x}+0x{e.Size:x} wraps around");
            if (merged.Count > 0)
            {
                var last = merged[^1];
                if (e.Address < last.End)
                    throw new ArgumentException(
                        $"memory map entries 0x{last.Address:x}-0x{last.End:x} and 0x{e.Address:x}-0x{e.End:x} overlap");
                if (e.Address == last.End && e.Type == last.Type)
                {
                    merged[^1] = last with { Size = last.Size + e.Size };
                    continue;
                }
            }
            merged.Add(e);
        }
        Entries = merged;
    }

    /// <summary>
    /// The map of our x86 machine's RAM: usable RAM below the EBDA, the reserved 0x9FC00-0xFFFFF window (EBDA,
    /// ACPI tables, where a BIOS would be), usable RAM from 1 MiB to the MMIO hole, and the RAM above 4 GiB.
    /// </summary>
    public static E820Map ForGuestMemory(GuestMemory memory)
    {
        var entries = new List<E820Entry>();
        foreach (var region in memory.Regions)
        {
            ulong start = region.GuestPhysicalAddress, end = region.End;
            AddClipped(entries, start, end, 0, X86MemoryLayout.EbdaStart, E820Type.Ram);
            AddClipped(entries, start, end, X86MemoryLayout.EbdaStart, X86MemoryLayout.KernelLoadAddress, E820Type.Reserved);
            AddClipped(entries, start, end, X86MemoryLayout.KernelLoadAddress, ulong.MaxValue, E820Type.Ram);
        }
        return new E820Map(entries);
    }

    /// <summary>The end of the usable RAM range that contains <paramref name="address"/>, or 0 if none does.</summary>
    public ulong UsableEndAt(ulong address)
    {
        foreach (var e in Entries)
            if (e.Type == E820Type.Ram && address >= e.Address && address < e.End)
                return e.End;
        return 0;
    }

    public bool IsUsableRam(ulong address, ulong size) =>
        size == 0 || Entries.Any(e => e.Type == E820Type.Ram && address >= e.Address && address < e.End && size <= e.End - address);

    private static void AddClipped(List<E820Entry> entries, ulong regionStart, ulong regionEnd, ulong windowStart,
        ulong windowEnd, E820Type type)
    {
        ulong start = Math.Max(regionStart, windowStart), end = Math.Min(regionEnd, windowEnd);
        if (end > start) entries.Add(new E820Entry(start, end - start, type));
    }
}
