using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Memory;

public class GuestMemoryTests
{
    [Fact]
    public void SmallGuestsGetOneRegionAndLargeOnesSplitAroundTheHole()
    {
        Assert.Equal([(0UL, 512UL << 20)], X86MemoryLayout.RamBlocks(512UL << 20));
        var blocks = X86MemoryLayout.RamBlocks(6UL << 30);
        Assert.Equal((0UL, 3UL << 30), blocks[0]);
        Assert.Equal((4UL << 30, 3UL << 30), blocks[1]);
    }

    [Fact]
    public void ReadsAndWritesAreBoundsChecked()
    {
        using var memory = GuestMemory.CreateX86(16 << 20);
        memory.WriteUInt64(0x1000, 0x1122334455667788);
        Assert.Equal(0x1122334455667788UL, memory.ReadUInt64(0x1000));
        Assert.Equal(0x88, memory.ReadByte(0x1000));
        var e = Assert.Throws<GuestMemoryException>(() => memory.ReadUInt32((16 << 20) - 2));
        Assert.Contains("not inside guest RAM", e.Message);
        Assert.Throws<GuestMemoryException>(() => memory.Write(ulong.MaxValue - 1, new byte[4]));
    }

    [Fact]
    public void MemoryIsCommittedOnlyWhenTouched()
    {
        long before = ResidentKiB();
        using var memory = GuestMemory.CreateX86(8UL << 30); // 8 GiB on any host: MAP_NORESERVE
        long afterMap = ResidentKiB();
        Assert.True(afterMap - before < 64 * 1024, $"mapping 8 GiB raised RSS by {afterMap - before} KiB");
        Assert.Equal(0UL, memory.ResidentBytes());
        for (ulong page = 0; page < 256; page++) memory.WriteByte(page * 4096, 1); // touch 1 MiB
        Assert.Equal(1UL << 20, memory.ResidentBytes());
        memory.WriteByte(5UL << 30, 1); // the region above the 32-bit hole
        Assert.Equal((1UL << 20) + 4096, memory.ResidentBytes());
    }

    [Fact]
    public void DiscardedPagesLeaveHostMemoryAndReadAsZero()
    {
        using var memory = GuestMemory.CreateX86(16 << 20);
        for (ulong page = 0; page < 64; page++) memory.WriteByte(page * 4096, 0xAB);
        Assert.Equal(64UL * 4096, memory.ResidentBytes());
        memory.Regions[0].Discard(16 * 4096, 32 * 4096);
        Assert.Equal(32UL * 4096, memory.ResidentBytes());
        Assert.Equal(0, memory.ReadByte(16 * 4096));
        Assert.Equal(0xAB, memory.ReadByte(15 * 4096));
        Assert.Equal(0xAB, memory.ReadByte(48 * 4096));
    }

    [Fact]
    public void VmmWritesAreMarkedDirtyWhileTracking()
    {
        using var memory = GuestMemory.CreateX86(16 << 20);
        var region = memory.Regions[0];
        region.StartVmmDirtyTracking();
        memory.Write(0x2FFE, new byte[4]); // spans pages 2 and 3
        Assert.True(region.VmmDirtyPages!.IsDirty(2));
        Assert.True(region.VmmDirtyPages.IsDirty(3));
        Assert.Equal(2UL, region.VmmDirtyPages.CountDirty());
    }

    private static long ResidentKiB()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:")) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        throw new InvalidOperationException("no VmRSS");
    }
}
