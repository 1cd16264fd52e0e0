namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// Descriptor tables and segment-register loads with the protection checks of the Intel SDM (vol. 3, ch. 5) that an
/// operating system relies on: selector within the table, descriptor type, DPL/RPL/CPL, present bit, and the null
/// selector rules of 64-bit mode. Call gates and task gates are not supported: a far transfer through one raises
/// #GP(selector), which a 64-bit Linux never does. Segment limits are loaded but not enforced on data accesses.
/// </summary>
public static class Segmentation
{
    public const int TableIndicator = 4, RequestedPrivilegeMask = 3;

    // Descriptor bits (in the 64-bit descriptor value).
    private const ulong AccessedBit = 1UL << 40, PresentBit = 1UL << 47;
    private const int CodeBit = 8, ConformingBit = 4, ReadableOrWritableBit = 2;

    /// <summary>A null selector: index 0 in the GDT, any RPL.</summary>
    public static bool IsNull(ushort selector) => (selector & 0xFFFC) == 0;

    /// <summary>Reads memory as the CPU does for descriptor tables and the TSS: a supervisor access whatever the CPL.</summary>
    public static ulong ReadSystem(CpuCore cpu, ulong linear, int size)
    {
        int cpl = cpu.Cpl;
        cpu.Cpl = 0;
        try { return cpu.Memory.Read(linear, size); }
        finally { cpu.Cpl = cpl; }
    }

    /// <summary>Writes memory as a supervisor access (descriptor accessed and busy bits).</summary>
    public static void WriteSystem(CpuCore cpu, ulong linear, int size, ulong value)
    {
        int cpl = cpu.Cpl;
        cpu.Cpl = 0;
        try { cpu.Memory.Write(linear, size, value); }
        finally { cpu.Cpl = cpl; }
    }

    /// <summary>The linear address of <paramref name="selector"/>'s descriptor, or false when it lies outside its table (or the LDT is unusable).</summary>
    public static bool TryLocate(CpuCore cpu, ushort selector, int descriptorBytes, out ulong address)
    {
        ulong @base;
        uint limit;
        if ((selector & TableIndicator) != 0)
        {
            if ((cpu.Ldtr.Attributes & SegmentCache.UnusableBit) != 0 || IsNull(cpu.Ldtr.Selector)) { address = 0; return false; }
            @base = cpu.Ldtr.Base;
            limit = cpu.Ldtr.Limit;
        }
        else
        {
            @base = cpu.GdtBase;
            limit = cpu.GdtLimit;
        }
        uint offset = (uint)(selector & 0xFFF8);
        address = @base + offset;
        // IA-32e mode (compatibility mode too) keeps 64-bit table bases; only legacy protected mode wraps at 4 GiB.
        if (!cpu.LongModeActive) address = (uint)address;
        return offset + (uint)descriptorBytes - 1 <= limit;
    }

    /// <summary>Reads the 8-byte descriptor <paramref name="selector"/> names; outside its table raises <paramref name="vector"/>(selector).</summary>
    public static ulong ReadDescriptor(CpuCore cpu, ushort selector, byte vector = GuestFault.GeneralProtection, uint external = 0)
    {
        if (!TryLocate(cpu, selector, 8, out ulong address)) throw new GuestFault(vector, (uint)(selector & 0xFFFC) | external);
        return ReadSystem(cpu, address, 8);
    }

    /// <summary>The hidden part a descriptor loads: base, limit scaled by G, attributes in the VMX access-rights layout.</summary>
    public static SegmentCache FromDescriptor(ushort selector, ulong descriptor)
    {
        uint limit = (uint)(descriptor & 0xFFFF) | (uint)((descriptor >> 32) & 0xF_0000);
        uint attributes = (uint)((descriptor >> 40) & 0xF0FF);
        if ((attributes & SegmentCache.GranularityBit) != 0) limit = (limit << 12) | 0xFFF;
        return new SegmentCache
        {
            Selector = selector,
            Base = ((descriptor >> 16) & 0xFF_FFFF) | ((descriptor >> 56) << 24),
            Limit = limit,
            Attributes = attributes,
        };
    }

    /// <summary>Sets the descriptor's accessed bit if it is clear, as the CPU does on a load (Linux keeps it set in its read-only GDT).</summary>
    public static void MarkAccessed(CpuCore cpu, ushort selector, ulong descriptor)
    {
        if ((descriptor & AccessedBit) != 0) return;
        TryLocate(cpu, selector, 8, out ulong address);
        WriteSystem(cpu, address + 5, 1, (descriptor >> 40) & 0xFF | 1);
    }

    private static bool IsCodeOrData(ulong descriptor) => (descriptor & (1UL << 44)) != 0;
    private static int TypeOf(ulong descriptor) => (int)((descriptor >> 40) & 0xF);
    private static int DplOf(ulong descriptor) => (int)((descriptor >> 45) & 3);
    private static bool IsPresent(ulong descriptor) => (descriptor & PresentBit) != 0;
    private static uint SelectorError(ushort selector) => (uint)(selector & 0xFFFC);

    /// <summary>A null (unusable) segment register, as loading a null selector makes it.</summary>
    public static SegmentCache Null(ushort selector) => new() { Selector = selector, Attributes = SegmentCache.UnusableBit };

    /// <summary>A real-mode or virtual-8086 load: base = selector x 16, the rest of the cache kept.</summary>
    private static void LoadRealMode(CpuCore cpu, int segment, ushort selector)
    {
        ref var s = ref cpu.Segments[segment];
        s.Selector = selector;
        s.Base = (ulong)selector << 4;
        s.Attributes = (s.Attributes & ~SegmentCache.UnusableBit) | SegmentCache.PresentBit | SegmentCache.CodeOrDataBit;
    }

    /// <summary>MOV/POP to DS, ES, FS or GS, and LDS/LES/LFS/LGS.</summary>
    public static void LoadDataSegment(CpuCore cpu, int segment, ushort selector)
    {
        if (!cpu.ProtectedMode || (cpu.ControlFlags & CpuCore.Virtual8086Flag) != 0)
        {
            LoadRealMode(cpu, segment, selector);
            return;
        }
        if (IsNull(selector))
        {
            // Intel clears the base with the null load (64-bit mode included); an access through it then faults outside 64-bit mode.
            cpu.Segments[segment] = Null(selector);
            return;
        }
        ulong d = ReadDescriptor(cpu, selector);
        int type = TypeOf(d), dpl = DplOf(d);
        if (!IsCodeOrData(d) || ((type & CodeBit) != 0 && (type & ReadableOrWritableBit) == 0))
            throw new GuestFault(GuestFault.GeneralProtection, SelectorError(selector));
        bool conformingCode = (type & (CodeBit | ConformingBit)) == (CodeBit | ConformingBit);
        if (!conformingCode && ((selector & RequestedPrivilegeMask) > dpl || cpu.Cpl > dpl))
            throw new GuestFault(GuestFault.GeneralProtection, SelectorError(selector));
        if (!IsPresent(d)) throw new GuestFault(GuestFault.SegmentNotPresent, SelectorError(selector));
        MarkAccessed(cpu, selector, d);
        var cache = FromDescriptor(selector, d | AccessedBit);
        if (cpu.SixtyFourBitMode) cache.Base = (uint)cache.Base; // a selector load gives FS/GS a 32-bit base; MSRs give the rest
        cpu.Segments[segment] = cache;
    }

    /// <summary>MOV/POP to SS and LSS. The caller opens the one-instruction interrupt shadow.</summary>
    public static void LoadStackSegment(CpuCore cpu, ushort selector) => cpu.Segments[CpuCore.Ss] = CheckStackSegment(cpu, selector, cpu.Cpl, GuestFault.GeneralProtection);

    /// <summary>
    /// The SS cache for <paramref name="selector"/> at privilege <paramref name="cpl"/>: RPL = DPL = CPL, a writable data
    /// segment, present (#SS otherwise). A null SS is allowed only in 64-bit mode below CPL 3.
    /// </summary>
    public static SegmentCache CheckStackSegment(CpuCore cpu, ushort selector, int cpl, byte vector, bool targetIs64Bit = false)
    {
        if (!cpu.ProtectedMode || (cpu.ControlFlags & CpuCore.Virtual8086Flag) != 0)
        {
            var s = cpu.Segments[CpuCore.Ss];
            s.Selector = selector;
            s.Base = (ulong)selector << 4;
            return s;
        }
        if (IsNull(selector))
        {
            bool allowed = (cpu.SixtyFourBitMode || targetIs64Bit) && cpl < 3 && (selector & RequestedPrivilegeMask) == cpl;
            if (!allowed) throw new GuestFault(vector, 0);
            // A null SS in 64-bit mode keeps a usable writable stack with DPL = CPL, as VMX reports it.
            return new SegmentCache { Selector = selector, Attributes = SegmentCache.UnusableBit | ((uint)cpl << 5) | 0x3 };
        }
        ulong d = ReadDescriptor(cpu, selector, vector);
        int type = TypeOf(d);
        if ((selector & RequestedPrivilegeMask) != cpl || !IsCodeOrData(d) || (type & CodeBit) != 0
            || (type & ReadableOrWritableBit) == 0 || DplOf(d) != cpl)
            throw new GuestFault(vector, SelectorError(selector));
        if (!IsPresent(d)) throw new GuestFault(GuestFault.StackFault, SelectorError(selector));
        MarkAccessed(cpu, selector, d);
        return FromDescriptor(selector, d | AccessedBit);
    }

    /// <summary>
    /// The CS cache for a far JMP or CALL to <paramref name="selector"/> (no gates): a code segment, conforming with
    /// DPL &lt;= CPL or non-conforming with RPL &lt;= CPL and DPL = CPL; CPL does not change and becomes CS.RPL.
    /// </summary>
    public static SegmentCache CheckFarBranchTarget(CpuCore cpu, ushort selector)
    {
        if (!cpu.ProtectedMode || (cpu.ControlFlags & CpuCore.Virtual8086Flag) != 0) return RealModeCode(cpu, selector);
        if (IsNull(selector)) throw new GuestFault(GuestFault.GeneralProtection, 0);
        ulong d = ReadDescriptor(cpu, selector);
        int type = TypeOf(d), dpl = DplOf(d), cpl = cpu.Cpl;
        if (!IsCodeOrData(d) || (type & CodeBit) == 0) throw new GuestFault(GuestFault.GeneralProtection, SelectorError(selector)); // gates, TSS, data
        if ((type & ConformingBit) != 0 ? dpl > cpl : ((selector & RequestedPrivilegeMask) > cpl || dpl != cpl))
            throw new GuestFault(GuestFault.GeneralProtection, SelectorError(selector));
        if (!IsPresent(d)) throw new GuestFault(GuestFault.SegmentNotPresent, SelectorError(selector));
        CheckLongAndDefault(cpu, selector, d);
        MarkAccessed(cpu, selector, d);
        return FromDescriptor((ushort)((selector & ~RequestedPrivilegeMask) | cpl), d | AccessedBit);
    }

    /// <summary>
    /// The CS cache for a far RET or IRET to <paramref name="selector"/>: RPL &gt;= CPL is the new CPL; a conforming
    /// segment needs DPL &lt;= RPL, a non-conforming one DPL = RPL.
    /// </summary>
    public static SegmentCache CheckReturnTarget(CpuCore cpu, ushort selector)
    {
        if (!cpu.ProtectedMode || (cpu.ControlFlags & CpuCore.Virtual8086Flag) != 0) return RealModeCode(cpu, selector);
        if (IsNull(selector)) throw new GuestFault(GuestFault.GeneralProtection, 0);
        ulong d = ReadDescriptor(cpu, selector);
        int type = TypeOf(d), dpl = DplOf(d), rpl = selector & RequestedPrivilegeMask;
        if (rpl < cpu.Cpl || !IsCodeOrData(d) || (type & CodeBit) == 0) throw new GuestFault(GuestFault.GeneralProtection, SelectorError(selector));
        if ((type & ConformingBit) != 0 ? dpl > rpl : dpl != rpl) throw new GuestFault(GuestFault.GeneralProtection, SelectorError(selector));
        if (!IsPresent(d)) throw new GuestFault(GuestFault.SegmentNotPresent, SelectorError(selector));
        CheckLongAndDefault(cpu, selector, d);
        MarkAccessed(cpu, selector, d);
        return FromDescriptor(selector, d | AccessedBit);
    }

    /// <summary>
    /// The CS cache for an interrupt or exception gate's selector: a present code segment with DPL &lt;= CPL; in IA-32e
    /// mode a 64-bit one. <paramref name="external"/> is the EXT bit of the error code.
    /// </summary>
    public static SegmentCache CheckGateTarget(CpuCore cpu, ushort selector, uint external, out int newCpl)
    {
        if (IsNull(selector)) throw new GuestFault(GuestFault.GeneralProtection, external);
        ulong d = ReadDescriptor(cpu, selector, GuestFault.GeneralProtection, external);
        int type = TypeOf(d), dpl = DplOf(d);
        if (!IsCodeOrData(d) || (type & CodeBit) == 0 || dpl > cpu.Cpl)
            throw new GuestFault(GuestFault.GeneralProtection, SelectorError(selector) | external);
        if (cpu.LongModeActive && ((d >> 53) & 3) != 1) // L = 1, D = 0
            throw new GuestFault(GuestFault.GeneralProtection, SelectorError(selector) | external);
        if (!IsPresent(d)) throw new GuestFault(GuestFault.SegmentNotPresent, SelectorError(selector) | external);
        newCpl = (type & ConformingBit) != 0 ? cpu.Cpl : dpl;
        MarkAccessed(cpu, selector, d);
        return FromDescriptor((ushort)((selector & ~RequestedPrivilegeMask) | newCpl), d | AccessedBit);
    }

    // In IA-32e mode a code descriptor with both L and D set is reserved.
    private static void CheckLongAndDefault(CpuCore cpu, ushort selector, ulong d)
    {
        if (cpu.LongModeActive && ((d >> 53) & 3) == 3) throw new GuestFault(GuestFault.GeneralProtection, SelectorError(selector));
    }

    private static SegmentCache RealModeCode(CpuCore cpu, ushort selector)
    {
        var cs = cpu.Segments[CpuCore.Cs];
        cs.Selector = selector;
        cs.Base = (ulong)selector << 4;
        return cs;
    }

    /// <summary>
    /// After a return to an outer privilege level: ES, DS, FS and GS that the new CPL may not use (data or
    /// non-conforming code with DPL below it) become null, so the outer level cannot keep a more privileged segment.
    /// </summary>
    public static void NullInaccessibleDataSegments(CpuCore cpu)
    {
        Span<int> segments = [CpuCore.Es, CpuCore.Ds, CpuCore.Fs, CpuCore.Gs];
        foreach (int index in segments)
        {
            ref var s = ref cpu.Segments[index];
            if ((s.Attributes & SegmentCache.UnusableBit) != 0) continue;
            bool conformingCode = (s.Type & (CodeBit | ConformingBit)) == (CodeBit | ConformingBit);
            if (!conformingCode && s.Dpl < cpu.Cpl)
            {
                s.Selector = 0;
                s.Attributes |= SegmentCache.UnusableBit;
            }
        }
    }

    /// <summary>A 64-bit address is canonical when bits 63..47 are all equal (4-level paging).</summary>
    public static bool IsCanonical(ulong address) => (ulong)((long)address >> 47) + 1 <= 1;
}
