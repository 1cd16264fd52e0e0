using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// One bit per guest-physical 4 KiB page: set while decoded blocks hold code from that page. A store checks its bit
/// (one load and a test) and only a store to a code page pays for invalidation: how self-modifying code, and the
/// kernel patching its own text, stay correct.
/// </summary>
/// <remarks>
/// One tracker serves every vCPU of a machine: a store on one vCPU to a page holding code another decoded must reach
/// that vCPU's block cache. Bits are set and cleared atomically; <see cref="CodePageWritten"/> fires once per
/// set-to-clear transition, on the thread of the vCPU that stored, so its subscribers must be thread-safe.
/// A decoder should mark a page before it reads the page's bytes, so a racing store either lands before the read
/// or sees the bit.
/// </remarks>
public sealed class CodePageTracker
{
    // Pinned so the stores' fast path can test a bit through a plain pointer.
    private readonly ulong[] _bits;
    private readonly unsafe ulong* _bitsPointer;

    public unsafe CodePageTracker(ulong physicalLimit)
    {
        PhysicalLimit = physicalLimit;
        _bits = GC.AllocateArray<ulong>((int)((physicalLimit / 4096 + 63) / 64 + 1), pinned: true);
        _bitsPointer = (ulong*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_bits));
    }

    /// <summary>Pages below this guest-physical address are tracked; stores above it are never to code.</summary>
    public ulong PhysicalLimit { get; }

    /// <summary>The bitmap, for the store fast path of <see cref="EmulatedMemory"/>; valid for pages below <see cref="PhysicalLimit"/>.</summary>
    internal unsafe ulong* Bits => _bitsPointer;

    /// <summary>
    /// Called with a page's number when a store lands on a page that holds code. Runs on the storing vCPU's thread,
    /// which need not be the thread that decoded the code: handlers must be thread-safe.
    /// </summary>
    public event Action<ulong>? CodePageWritten;

    public void MarkCode(ulong physicalPage)
    {
        if (physicalPage / 64 < (ulong)_bits.Length) Interlocked.Or(ref _bits[physicalPage / 64], 1UL << (int)(physicalPage % 64));
    }

    public void Clear(ulong physicalPage)
    {
        if (physicalPage / 64 < (ulong)_bits.Length) Interlocked.And(ref _bits[physicalPage / 64], ~(1UL << (int)(physicalPage % 64)));
    }

    public bool IsCode(ulong physicalPage) =>
        physicalPage / 64 < (ulong)_bits.Length && (Volatile.Read(ref _bits[physicalPage / 64]) & (1UL << (int)(physicalPage % 64))) != 0;

    /// <summary>A store of <paramref name="length"/> bytes at <paramref name="physical"/> happened.</summary>
    public void NoteWrite(ulong physical, int length)
    {
        ulong first = physical >> 12, last = (physical + (ulong)Math.Max(length, 1) - 1) >> 12;
        for (ulong page = first; page <= last; page++)
        {
            if (page / 64 >= (ulong)_bits.Length) return;
            ulong bit = 1UL << (int)(page % 64);
            if ((Volatile.Read(ref _bits[page / 64]) & bit) == 0) continue;
            // Only the store that clears the bit reports it, so subscribers hear of each page once per decode.
            if ((Interlocked.And(ref _bits[page / 64], ~bit) & bit) != 0) CodePageWritten?.Invoke(page);
        }
    }
}
