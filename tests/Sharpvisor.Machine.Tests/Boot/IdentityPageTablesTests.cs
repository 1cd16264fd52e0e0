using Sharpvisor.Machine.Boot;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Boot;

public class IdentityPageTablesTests
{
    /// <summary>A 4-level walk as the MMU does it, for 4 KiB, 2 MiB and 1 GiB pages; null if not present.</summary>
    private static ulong? Translate(GuestMemory memory, ulong cr3, ulong va)
    {
        const ulong present = 1, large = 1 << 7, addressMask = 0x000F_FFFF_FFFF_F000;
        ulong table = cr3 & addressMask;
        for (int level = 3; level >= 0; level--)
        {
            int index = (int)((va >> (12 + 9 * level)) & 0x1FF);
            ulong entry = memory.ReadUInt64(table + (ulong)index * 8);
            if ((entry & present) == 0) return null;
            if (level is 1 or 2 && (entry & large) != 0)
            {
                ulong pageSize = 1UL << (12 + 9 * level);
                return (entry & addressMask & ~(pageSize - 1)) | (va & (pageSize - 1));
            }
            if (level == 0) return (entry & addressMask) | (va & 0xFFF);
            table = entry & addressMask;
        }
        return null;
    }

    [Fact]
    public void FirstFourGibAreIdentityMappedWithWritableTwoMibPages()
    {
        using var memory = GuestMemory.CreateX86(64UL << 20);
        memory.Write(0x9000, Enumerable.Repeat((byte)0xFF, 0x6000).ToArray());   // garbage must be overwritten
        ulong cr3 = IdentityPageTables.Write(memory);
        Assert.Equal(0x9000UL, cr3);

        foreach (ulong va in new ulong[] { 0, 0x7000, 0x100_0200, 0x3FFF_FFFF, 0x4000_0000, 0xBFFF_F123, 0xFEC0_0000,
                     0xFEE0_0300, 0xFFFF_FFFF })
            Assert.Equal(va, Translate(memory, cr3, va));
        Assert.Null(Translate(memory, cr3, 0x1_0000_0000));                     // 4 GiB and up: not mapped
        Assert.Null(Translate(memory, cr3, 0x8000_0000_0000));

        // Every PD entry: present, writable, PS, 2 MiB aligned frame in order.
        for (int i = 0; i < 2048; i++)
        {
            ulong pde = memory.ReadUInt64(0xB000 + (ulong)i * 8);
            Assert.Equal(0x83UL, pde & 0xFFF);
            Assert.Equal((ulong)i << 21, pde & ~0xFFFUL);
        }
        Assert.Equal(0xA003UL, memory.ReadUInt64(0x9000));                      // PML4[0] -> PDPT
        Assert.Equal(0UL, memory.ReadUInt64(0x9008));
        for (int i = 0; i < 4; i++)
            Assert.Equal(0xB003UL + (ulong)i * 0x1000, memory.ReadUInt64(0xA000 + (ulong)i * 8));
        Assert.Equal(0UL, memory.ReadUInt64(0xA020));
        Assert.True(IdentityPageTables.TablesEnd <= 0xF000, "page tables stay within 0x9000-0xEFFF");
    }
}
