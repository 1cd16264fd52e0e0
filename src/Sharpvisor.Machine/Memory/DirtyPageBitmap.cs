namespace Sharpvisor.Machine.Memory;

/// <summary>One bit per 4 KiB page; the format KVM's dirty log uses too, so the two can be merged word by word.</summary>
public sealed class DirtyPageBitmap(ulong pageCount)
{
    public ulong PageCount { get; } = pageCount;
    public ulong[] Words { get; } = new ulong[(pageCount + 63) / 64];

    public void MarkRange(ulong firstPage, ulong pageCount)
    {
        for (ulong p = firstPage; p < firstPage + pageCount && p < PageCount; p++)
            Words[p / 64] |= 1UL << (int)(p % 64);
    }

    public bool IsDirty(ulong page) => (Words[page / 64] & (1UL << (int)(page % 64))) != 0;

    public ulong CountDirty()
    {
        ulong n = 0;
        foreach (ulong w in Words) n += (ulong)System.Numerics.BitOperations.PopCount(w);
        return n;
    }

    public void Clear() => Array.Clear(Words);
}
