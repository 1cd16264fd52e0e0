using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// The emulator's dirty-page log: one bit per guest-physical 4 KiB page, shared by every vCPU of a machine, set when
/// a vCPU gains the right to write a page (a TLB fill for a write) or writes it on a slow path. Nothing is recorded
/// while <see cref="Enabled"/> is false, and then the stores' fast path pays nothing.
/// </summary>
/// <remarks>
/// Marking at fill time rather than per store keeps the store fast path as it is: while logging, a TLB entry carries
/// write rights only if its page was marked when the entry was filled, and collecting the log takes write rights
/// from every vCPU's TLB (<see cref="SliceGate"/>), so the next store to a page re-marks it.
/// </remarks>
public sealed class DirtyPageLog
{
    private readonly ulong[] _bits;

    public DirtyPageLog(ulong physicalLimit)
    {
        PhysicalLimit = physicalLimit;
        _bits = GC.AllocateArray<ulong>((int)((physicalLimit / 4096 + 63) / 64 + 1), pinned: true);
    }

    /// <summary>Pages below this guest-physical address are logged.</summary>
    public ulong PhysicalLimit { get; }

    /// <summary>Whether writes are being recorded; read on TLB fills and slow-path stores only.</summary>
    public volatile bool Enabled;

    /// <summary>Marks the page holding <paramref name="physical"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MarkPage(ulong physical)
    {
        ulong page = physical >> 12;
        if (page / 64 >= (ulong)_bits.Length) return;
        ulong bit = 1UL << (int)(page % 64);
        // Test first: a page written often is marked once per collection, without a locked instruction each time.
        if ((Volatile.Read(ref _bits[page / 64]) & bit) == 0) Interlocked.Or(ref _bits[page / 64], bit);
    }

    /// <summary>Marks every page that a store of <paramref name="length"/> bytes at <paramref name="physical"/> touches.</summary>
    public void NoteWrite(ulong physical, int length)
    {
        ulong first = physical >> 12, last = (physical + (ulong)Math.Max(length, 1) - 1) >> 12;
        for (ulong page = first; page <= last; page++) MarkPage(page << 12);
    }

    public bool IsDirty(ulong physical)
    {
        ulong page = physical >> 12;
        return page / 64 < (ulong)_bits.Length && (Volatile.Read(ref _bits[page / 64]) & (1UL << (int)(page % 64))) != 0;
    }

    /// <summary>
    /// ORs the marks of <paramref name="region"/>'s pages into <paramref name="into"/> (indexed from the region's
    /// first page) and clears them, each word atomically, so a mark made meanwhile lands in this result or the next.
    /// </summary>
    public void TakeRegion(GuestMemoryRegion region, DirtyPageBitmap into)
    {
        ulong firstPage = region.GuestPhysicalAddress >> 12;
        ulong pages = Math.Min(into.PageCount, region.Size >> 12);
        if (firstPage % 64 == 0)
        {
            ulong firstWord = firstPage / 64;
            for (ulong w = 0; w < (pages + 63) / 64 && firstWord + w < (ulong)_bits.Length; w++)
            {
                ulong mask = pages - w * 64 >= 64 ? ulong.MaxValue : (1UL << (int)(pages - w * 64)) - 1;
                ulong taken = Interlocked.And(ref _bits[firstWord + w], ~mask) & mask;
                into.Words[w] |= taken;
            }
            return;
        }
        // A region that does not start on a 64-page boundary: bit by bit.
        for (ulong p = 0; p < pages; p++)
        {
            ulong page = firstPage + p;
            if (page / 64 >= (ulong)_bits.Length) break;
            ulong bit = 1UL << (int)(page % 64);
            if ((Interlocked.And(ref _bits[page / 64], ~bit) & bit) != 0) into.MarkRange(p, 1);
        }
    }

    /// <summary>Forgets every mark (logging switched on afresh).</summary>
    public void Clear()
    {
        for (int i = 0; i < _bits.Length; i++) Interlocked.Exchange(ref _bits[i], 0);
    }
}
