namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// One RAM region in the memory file. <see cref="Runs"/> lists the stored pages as pairs (first page, page count),
/// counted from the region's start; every other page of the region reads as zero.
/// </summary>
public sealed record MemoryImageRegion
{
    public int Slot { get; init; }
    public ulong GuestPhysicalAddress { get; init; }
    public ulong Size { get; init; }
    public ulong FileOffset { get; init; }
    public ulong[] Runs { get; init; } = [];
    public ulong StoredPages
    {
        get
        {
            ulong n = 0;
            for (int i = 1; i < Runs.Length; i += 2) n += Runs[i];
            return n;
        }
    }
}
