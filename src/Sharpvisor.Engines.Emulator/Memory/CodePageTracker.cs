namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// One bit per guest-physical 4 KiB page: set while decoded blocks hold code from that page. A store checks its bit
/// (one load and a test) and only a store to a code page pays for invalidation: how self-modifying code, and the
/// kernel patching its own text, stay correct.
/// </summary>
public sealed class CodePageTracker(ulong physicalLimit)
{
    private readonly ulong[] _bits = new ulong[(physicalLimit / 4096 + 63) / 64 + 1];

    /// <summary>Called with a page's number when a store lands on a page that holds code.</summary>
    public event Action<ulong>? CodePageWritten;

    public void MarkCode(ulong physicalPage)
    {
        if (physicalPage / 64 < (ulong)_bits.Length) _bits[physicalPage / 64] |= 1UL << (int)(physicalPage % 64);
    }

    public void Clear(ulong physicalPage)
    {
        if (physicalPage / 64 < (ulong)_bits.Length) _bits[physicalPage / 64] &= ~(1UL << (int)(physicalPage % 64));
    }

    public bool IsCode(ulong physicalPage) =>
        physicalPage / 64 < (ulong)_bits.Length && (_bits[physicalPage / 64] & (1UL << (int)(physicalPage % 64))) != 0;

    /// <summary>A store of <paramref name="length"/> bytes at <paramref name="physical"/> happened.</summary>
    public void NoteWrite(ulong physical, int length)
    {
        ulong first = physical >> 12, last = (physical + (ulong)Math.Max(length, 1) - 1) >> 12;
        for (ulong page = first; page <= last; page++)
            if (IsCode(page))
            {
                Clear(page);
                CodePageWritten?.Invoke(page);
            }
    }
}
