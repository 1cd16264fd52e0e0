using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// A vCPU's software TLB: direct-mapped by linear page, each slot holding the physical page, the host pointer when it
/// is RAM, and the rights the paging structures grant (see <see cref="TlbRights"/>). <see cref="EmulatedMemory"/>
/// reads the slots directly on every access; the translator (<see cref="PagingUnit"/>) fills them after a walk.
/// Used by one vCPU thread only.
/// </summary>
public sealed class TranslationLookasideBuffer
{
    public const int Size = 1024;
    internal const ulong IndexMask = Size - 1;
    internal const ulong PageMask = ~0xFFFUL;

    private readonly EmulatedMemory _memory;
    private readonly TlbEntry[] _array = GC.AllocateArray<TlbEntry>(Size, pinned: true);
    private bool _holdsLargePages;

    internal unsafe TranslationLookasideBuffer(EmulatedMemory memory)
    {
        _memory = memory;
        Entries = (TlbEntry*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
    }

    /// <summary>The slots, pinned: the fast path indexes them with <c>(linear &gt;&gt; 12) &amp; IndexMask</c>.</summary>
    internal unsafe TlbEntry* Entries { get; }

    /// <summary>True when every bit of <paramref name="required"/> is in the tag of the slot for <paramref name="linear"/>'s page.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe bool Hits(TlbEntry* entry, ulong linear, ulong required) =>
        ((entry->Tag ^ ((linear & PageMask) | required)) & (PageMask | required)) == 0;

    /// <summary>The cached physical address of <paramref name="linear"/> if the cached rights include <paramref name="required"/>.</summary>
    public unsafe bool TryLookup(ulong linear, uint required, out ulong physical)
    {
        TlbEntry* entry = Entries + ((linear >> 12) & IndexMask);
        if (Hits(entry, linear, required))
        {
            physical = entry->Physical | (linear & 0xFFF);
            return true;
        }
        physical = 0;
        return false;
    }

    /// <summary>
    /// Caches that <paramref name="linear"/>'s 4 KiB page maps to <paramref name="physicalPage"/> with
    /// <paramref name="rights"/> (<see cref="TlbRights"/>; <see cref="TlbRights.Ram"/> is worked out here).
    /// <paramref name="pageSize"/> is the size of the page the paging structures map (4 KiB, 2/4 MiB or 1 GiB).
    /// While the machine's dirty log is on, a RAM page gets write rights only from a fill for a write
    /// (<paramref name="forWrite"/>), which marks it dirty, so every store through the entry is logged.
    /// </summary>
    internal unsafe void Insert(ulong linear, ulong physicalPage, uint rights, bool global, ulong pageSize = 4096, bool forWrite = false)
    {
        TlbEntry* entry = Entries + ((linear >> 12) & IndexMask);
        physicalPage &= PageMask;
        byte* host = _memory.FastRamPage(physicalPage);
        rights &= TlbRights.All;
        if (host != null && _memory.DirtyLog is { Enabled: true } log && (rights & WriteRights) != 0)
        {
            if (forWrite) log.MarkPage(physicalPage);
            else rights &= ~WriteRights;
        }
        if (host != null) rights |= TlbRights.Ram;
        if (global) rights |= TlbRights.Global;
        entry->Tag = (linear & PageMask) | rights;
        entry->Host = host;
        entry->Physical = physicalPage;
        entry->LargePageMask = pageSize > 4096 ? ~(pageSize - 1) : 0;
        if (pageSize > 4096) _holdsLargePages = true;
    }

    private const uint WriteRights = TlbRights.SupervisorWrite | TlbRights.UserWrite;

    /// <summary>
    /// Takes write rights from every cached translation, keeping the rest: the next store to any page walks (and, with
    /// the dirty log on, marks the page). Called on the vCPU's thread or while it runs no guest code (<see cref="SliceGate"/>).
    /// </summary>
    public unsafe void DropWriteRights()
    {
        for (int i = 0; i < Size; i++) Entries[i].Tag &= ~(ulong)WriteRights;
    }

    /// <summary>Drops every cached translation, or every one but those of global pages.</summary>
    public unsafe void Flush(bool includeGlobal)
    {
        _memory.NoteTranslationsChanged();
        bool largeLeft = false;
        for (int i = 0; i < Size; i++)
        {
            ref TlbEntry entry = ref Entries[i];
            if (entry.Tag == 0) continue;
            if (includeGlobal || (entry.Tag & TlbRights.Global) == 0) entry.Tag = 0;
            else if (entry.LargePageMask != 0) largeLeft = true;
        }
        _holdsLargePages = largeLeft;
    }

    /// <summary>Drops the translation of <paramref name="linear"/>'s page, global or not, and of every piece of a large page holding it.</summary>
    public unsafe void InvalidatePage(ulong linear)
    {
        _memory.NoteTranslationsChanged();
        Entries[(linear >> 12) & IndexMask].Tag = 0;
        if (!_holdsLargePages) return;
        // A large page is cached as 4 KiB pieces in many slots: drop all pieces of the one that covers the address.
        for (int i = 0; i < Size; i++)
        {
            ref TlbEntry entry = ref Entries[i];
            if (entry.LargePageMask != 0 && ((entry.Tag ^ linear) & entry.LargePageMask) == 0) entry.Tag = 0;
        }
    }

    /// <summary>How many slots hold a translation (for tests and statistics).</summary>
    public unsafe int Count
    {
        get
        {
            int n = 0;
            for (int i = 0; i < Size; i++) if (Entries[i].Tag != 0) n++;
            return n;
        }
    }
}
