namespace Sharpvisor.Machine.Cpu;

/// <summary>A segment register with its hidden descriptor cache, in the unpacked form KVM and the emulator share.</summary>
public sealed record SegmentRegister
{
    public ushort Selector { get; init; }
    public ulong Base { get; init; }
    public uint Limit { get; init; }
    /// <summary>The 4-bit descriptor type (e.g. 0xB for an accessed execute/read code segment).</summary>
    public byte Type { get; init; }
    public bool Present { get; init; }
    public byte Dpl { get; init; }
    /// <summary>D/B: 32-bit default operand size (code) or big stack (data).</summary>
    public bool DefaultBig { get; init; }
    /// <summary>S: code or data segment (as opposed to a system segment such as a TSS or LDT).</summary>
    public bool CodeOrData { get; init; }
    /// <summary>L: a 64-bit code segment.</summary>
    public bool Long { get; init; }
    public bool Granularity { get; init; }
    public bool Available { get; init; }
    public bool Unusable { get; init; }

    /// <summary>A flat 64-bit ring-0 code segment.</summary>
    public static SegmentRegister Code64(ushort selector, byte dpl = 0) => new()
    {
        Selector = selector, Base = 0, Limit = 0xFFFF_FFFF, Type = 0xB, Present = true, Dpl = dpl,
        CodeOrData = true, Long = true, Granularity = true,
    };

    /// <summary>A flat 32-bit code segment.</summary>
    public static SegmentRegister Code32(ushort selector) => new()
    {
        Selector = selector, Base = 0, Limit = 0xFFFF_FFFF, Type = 0xB, Present = true,
        CodeOrData = true, DefaultBig = true, Granularity = true,
    };

    /// <summary>A flat writable data segment.</summary>
    public static SegmentRegister Data(ushort selector, byte dpl = 0) => new()
    {
        Selector = selector, Base = 0, Limit = 0xFFFF_FFFF, Type = 0x3, Present = true, Dpl = dpl,
        CodeOrData = true, DefaultBig = true, Granularity = true,
    };

    /// <summary>A busy 64-bit TSS (type 0xB), which VM entry requires even when the guest never uses it.</summary>
    public static SegmentRegister TaskState(ushort selector, ulong @base, uint limit) => new()
    {
        Selector = selector, Base = @base, Limit = limit, Type = 0xB, Present = true,
    };

    /// <summary>An unusable (null) LDT, as after reset.</summary>
    public static SegmentRegister NullLdt() => new() { Type = 0x2, Limit = 0xFFFF, Present = true, Unusable = false };

    /// <summary>A real-mode segment: base = selector * 16, 64 KiB limit.</summary>
    public static SegmentRegister RealMode(ushort selector, bool code) => new()
    {
        Selector = selector, Base = (ulong)selector << 4, Limit = 0xFFFF, Type = (byte)(code ? 0xB : 0x3),
        Present = true, CodeOrData = true,
    };
}
