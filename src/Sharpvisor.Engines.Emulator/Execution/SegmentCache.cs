using System.Runtime.CompilerServices;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// A segment register as the CPU holds it: the visible selector and the descriptor cache loaded with it. Attributes
/// use the VMX access-rights layout (type 0-3, S 4, DPL 5-6, P 7, AVL 12, L 13, D/B 14, G 15, unusable 16), which
/// matches the descriptor's bits 40-55 shifted down by 40.
/// </summary>
public struct SegmentCache
{
    public ushort Selector;
    public ulong Base;
    public uint Limit;
    public uint Attributes;

    public const uint CodeOrDataBit = 1 << 4, PresentBit = 1 << 7, AvailableBit = 1 << 12, LongBit = 1 << 13,
        DefaultBigBit = 1 << 14, GranularityBit = 1 << 15, UnusableBit = 1 << 16;

    public readonly int Type => (int)(Attributes & 0xF);
    public readonly int Dpl => (int)((Attributes >> 5) & 3);
    public readonly bool Present => (Attributes & PresentBit) != 0;
    public readonly bool Long => (Attributes & LongBit) != 0;
    public readonly bool DefaultBig => (Attributes & DefaultBigBit) != 0;
}

/// <summary>ES, CS, SS, DS, FS, GS by their hardware number (the sreg field of ModRM).</summary>
[InlineArray(6)]
public struct SegmentFile
{
    private SegmentCache _element0;
}
