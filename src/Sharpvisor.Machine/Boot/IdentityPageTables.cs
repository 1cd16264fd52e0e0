using System.Buffers.Binary;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Boot;

/// <summary>
/// Four-level page tables that identity-map the first 4 GiB with 2 MiB pages, written at
/// <see cref="X86MemoryLayout.PageTablesAddress"/>: one PML4 page, one PDPT page and four page directories, exactly
/// the six pages 0x9000-0xEFFF. 2 MiB pages need no 1 GiB-page CPU support; the 64-bit boot protocol only needs the
/// kernel, boot_params and the command line mapped, all of which lie below 4 GiB.
/// </summary>
public static class IdentityPageTables
{
    public const ulong MappedBytes = 4UL << 30;
    public const ulong Pml4Address = X86MemoryLayout.PageTablesAddress;
    public const ulong PdptAddress = Pml4Address + 0x1000;
    public const ulong FirstPageDirectoryAddress = PdptAddress + 0x1000;
    public const int PageDirectoryCount = 4;
    public const ulong TablesEnd = FirstPageDirectoryAddress + PageDirectoryCount * 0x1000UL;

    public const ulong Present = 1, Writable = 1 << 1, LargePage = 1 << 7;
    private const ulong LargePageSize = 2UL << 20;

    /// <summary>Writes the tables and returns the value for CR3 (the PML4's address).</summary>
    public static ulong Write(GuestMemory memory)
    {
        var tables = new byte[TablesEnd - Pml4Address];
        void Set(ulong tableAddress, int index, ulong entry) =>
            BinaryPrimitives.WriteUInt64LittleEndian(tables.AsSpan((int)(tableAddress - Pml4Address) + 8 * index), entry);

        Set(Pml4Address, 0, PdptAddress | Present | Writable);
        for (int d = 0; d < PageDirectoryCount; d++)
        {
            ulong directory = FirstPageDirectoryAddress + (ulong)d * 0x1000;
            Set(PdptAddress, d, directory | Present | Writable);
            for (int i = 0; i < 512; i++)
                Set(directory, i, (((ulong)d << 30) + (ulong)i * LargePageSize) | Present | Writable | LargePage);
        }
        memory.Write(Pml4Address, tables);
        return Pml4Address;
    }
}
