using Sharpvisor.Machine.Boot;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Boot;

public class E820MapTests
{
    private const ulong Mib = 1UL << 20, Gib = 1UL << 30;

    [Fact]
    public void SmallGuestHasLowRamReservedBiosAreaAndRamFromOneMib()
    {
        using var memory = GuestMemory.CreateX86(256 * Mib);
        var map = E820Map.ForGuestMemory(memory);
        Assert.Equal(
        [
            new E820Entry(0, 0x9FC00, E820Type.Ram),
            new E820Entry(0x9FC00, 0x100000 - 0x9FC00, E820Type.Reserved),
            new E820Entry(0x100000, 255 * Mib, E820Type.Ram),
        ], map.Entries);
    }

    [Fact]
    public void LargeGuestHasRamAboveFourGibAndNothingInTheHole()
    {
        using var memory = GuestMemory.CreateX86(5 * Gib);
        var map = E820Map.ForGuestMemory(memory);
        Assert.Equal(4, map.Entries.Count);
        Assert.Equal(new E820Entry(0x100000, 3 * Gib - 0x100000, E820Type.Ram), map.Entries[2]);
        Assert.Equal(new E820Entry(4 * Gib, 2 * Gib, E820Type.Ram), map.Entries[3]);
        Assert.False(map.IsUsableRam(0xFEC0_0000, 1));
        Assert.True(map.IsUsableRam(4 * Gib, 2 * Gib));
        Assert.False(map.IsUsableRam(4 * Gib, 2 * Gib + 1));
        Assert.Equal(3 * Gib, map.UsableEndAt(16 * Mib));
    }

    [Fact]
    public void EntriesAreSortedMergedAndMustNotOverlap()
    {
        var map = new E820Map([
            new E820Entry(0x2000, 0x1000, E820Type.Ram),
            new E820Entry(0x0, 0x1000, E820Type.Ram),
            new E820Entry(0x1000, 0x1000, E820Type.Ram),
            new E820Entry(0x3000, 0x1000, E820Type.Reserved),
            new E820Entry(0x5000, 0, E820Type.Ram),
        ]);
        Assert.Equal([new E820Entry(0, 0x3000, E820Type.Ram), new E820Entry(0x3000, 0x1000, E820Type.Reserved)], map.Entries);
        Assert.Throws<ArgumentException>(() => new E820Map([
            new E820Entry(0, 0x2000, E820Type.Ram), new E820Entry(0x1000, 0x1000, E820Type.Reserved)]));
    }
}
