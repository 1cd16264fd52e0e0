using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// One vCPU's view of memory: linear addresses through the translator, then guest RAM by pointer, a per-CPU device
/// page (the local APIC), or a device on the shared MMIO bus. Stores to pages holding decoded code are reported to
/// the <see cref="CodePages"/> tracker.
/// </summary>
/// <remarks>
/// Each vCPU has its own instance (its own <see cref="Tlb"/> and local devices) over the machine's shared RAM, MMIO bus
/// and code-page tracker. A 1/2/4/8-byte access that stays in one page and hits the TLB on a RAM page costs a tag
/// compare and a load or store (plus, for a store, one bit test of the code-page map); everything else (TLB misses,
/// page-crossing accesses, MMIO, translators that cache nothing) takes the slow path. The TLB is filled by a
/// <see cref="PagingUnit"/> after each walk, and here for the <see cref="IdentityTranslator"/>; other translators
/// (<see cref="WindowTranslator"/>) are asked on every access, as before. An instance is used by its vCPU's thread only.
/// </remarks>
public sealed class EmulatedMemory
{
    private readonly unsafe TlbEntry* _tlb;
    private readonly unsafe ulong* _codeBits;
    private IAddressTranslator _translator;
    private bool _cachesIdentity;
    /// <summary>
    /// Whose CPL decides user or supervisor rights: the paging unit's CPU, else a core that stays at CPL 0 (identity
    /// entries grant both, the window translator caches nothing), so the fast path needs no null check.
    /// </summary>
    private CpuCore _privilegeSource;
    private static readonly CpuCore AlwaysSupervisor = new(null!);
    private LocalDevice[] _localDevices = [];
    private GuestMemoryRegion? _lastRegion;

    private readonly record struct LocalDevice(ulong Base, ulong Length, IBusDevice Device)
    {
        public bool Contains(ulong physical) => physical >= Base && physical - Base < Length;
        public bool Overlaps(ulong start, ulong length) => start < Base + Length && Base < start + length;
    }

    /// <summary>A memory view with its own code-page tracker: one CPU, as in tests and the oracle.</summary>
    /// <summary>Accesses that went to the MMIO bus (each a VM exit under KVM); this CPU's thread writes it.</summary>
    public long MmioAccesses;

    public EmulatedMemory(GuestMemory ram, MmioBus mmio, IAddressTranslator translator)
        : this(ram, mmio, translator, new CodePageTracker(ram.Regions.Max(r => r.End)))
    {
    }

    /// <summary>A vCPU's memory view sharing <paramref name="codePages"/> with the machine's other vCPUs.</summary>
    public unsafe EmulatedMemory(GuestMemory ram, MmioBus mmio, IAddressTranslator translator, CodePageTracker codePages)
    {
        ulong ramEnd = ram.Regions.Max(r => r.End);
        if (codePages.PhysicalLimit < ramEnd)
            throw new ArgumentException($"the code-page tracker covers 0x{codePages.PhysicalLimit:x} bytes, RAM ends at 0x{ramEnd:x}", nameof(codePages));
        Ram = ram;
        Mmio = mmio;
        CodePages = codePages;
        _codeBits = codePages.Bits;
        Tlb = new TranslationLookasideBuffer(this);
        _tlb = Tlb.Entries;
        SliceGate = new SliceGate(Tlb);
        _translator = translator;
        _privilegeSource = AlwaysSupervisor;
        Translator = translator;
    }

    public GuestMemory Ram { get; }
    public MmioBus Mmio { get; }
    public CodePageTracker CodePages { get; }
    public TranslationLookasideBuffer Tlb { get; }

    /// <summary>
    /// The machine's dirty-page log, or null (tests, the oracle): TLB fills and slow-path stores mark pages in it while
    /// it is enabled. Set before the vCPU first runs.
    /// </summary>
    public DirtyPageLog? DirtyLog { get; set; }

    /// <summary>Held by the vCPU thread while it runs a slice; lets other threads take write rights from <see cref="Tlb"/>.</summary>
    public SliceGate SliceGate { get; }

    /// <summary>
    /// Counts the events after which a linear address may translate differently or with other rights: every TLB flush
    /// and page invalidation (CR0, CR3, CR4 and EFER writes, INVLPG, a new translator, a restored state). A block
    /// found for an address while it stays the same is still the block at that address.
    /// </summary>
    public long TranslationEpoch { get; private set; }

    /// <summary>Translations change only through the TLB's flushes and invalidations (a paging unit or identity), so <see cref="TranslationEpoch"/> covers them.</summary>
    public bool TranslationsChangeOnlyThroughTlb { get; private set; }

    internal void NoteTranslationsChanged() => TranslationEpoch++;

    /// <summary>
    /// Linear to physical. Setting it empties the TLB; a <see cref="PagingUnit"/> must be the one built for this
    /// memory's CPU, whose CPL then selects user or supervisor rights.
    /// </summary>
    public IAddressTranslator Translator
    {
        get => _translator;
        set
        {
            if (value is PagingUnit paging && paging.Cpu.Memory != this)
                throw new ArgumentException("the paging unit belongs to another CPU's memory", nameof(value));
            _translator = value;
            _cachesIdentity = value is IdentityTranslator;
            TranslationsChangeOnlyThroughTlb = value is PagingUnit or IdentityTranslator;
            _privilegeSource = (value as PagingUnit)?.Cpu ?? AlwaysSupervisor;
            Tlb.Flush(includeGlobal: true);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool CrossesPage(ulong linear, int size) => ((linear & 0xFFF) + (ulong)size) > 0x1000;

    /// <summary>The TLB rights an access needs, plus <see cref="TlbRights.Ram"/> for the pointer fast path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong FastPathRights(AccessKind kind) => TlbRights.Required(kind, _privilegeSource.Cpl) | TlbRights.Ram;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe ulong Read(ulong linear, int size, AccessKind kind = AccessKind.Read)
    {
        TlbEntry* entry = _tlb + ((linear >> 12) & TranslationLookasideBuffer.IndexMask);
        // The tag is compared with the page of the last byte: an access crossing into the next page misses.
        if (TranslationLookasideBuffer.Hits(entry, linear + (ulong)size - 1, FastPathRights(kind)))
        {
            // Safe: a TLB hit on the page of the last byte means Host maps that whole 4 KiB RAM page, so p..p+size is guest RAM.
            byte* p = entry->Host + (linear & 0xFFF);
            return size switch
            {
                1 => *p,
                2 => Unsafe.ReadUnaligned<ushort>(p),
                4 => Unsafe.ReadUnaligned<uint>(p),
                _ => Unsafe.ReadUnaligned<ulong>(p),
            };
        }
        return ReadSlow(linear, size, kind);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Write(ulong linear, int size, ulong value, AccessKind kind = AccessKind.Write)
    {
        TlbEntry* entry = _tlb + ((linear >> 12) & TranslationLookasideBuffer.IndexMask);
        if (TranslationLookasideBuffer.Hits(entry, linear + (ulong)size - 1, FastPathRights(kind)))
        {
            // Safe: a TLB hit on the page of the last byte means Host maps that whole 4 KiB RAM page, so p..p+size is guest RAM.
            byte* p = entry->Host + (linear & 0xFFF);
            switch (size)
            {
                case 1: *p = (byte)value; break;
                case 2: Unsafe.WriteUnaligned(p, (ushort)value); break;
                case 4: Unsafe.WriteUnaligned(p, (uint)value); break;
                default: Unsafe.WriteUnaligned(p, value); break;
            }
            // RAM pages all lie below the tracker's limit (checked at construction), so the bit is there to test.
            ulong page = entry->Physical >> 12;
            if ((_codeBits[page >> 6] & (1UL << (int)page)) != 0) CodePages.NoteWrite(entry->Physical | (linear & 0xFFF), size);
            return;
        }
        WriteSlow(linear, size, value, kind);
    }

    /// <summary>Reads (SSE operands, instruction fetch, descriptors) page by page; any length.</summary>
    public unsafe void ReadBytes(ulong linear, Span<byte> destination, AccessKind kind = AccessKind.Read)
    {
        int done = 0;
        while (done < destination.Length)
        {
            ulong at = linear + (ulong)done;
            int chunk = (int)Math.Min((ulong)(destination.Length - done), 0x1000 - (at & 0xFFF));
            TlbEntry* entry = _tlb + ((at >> 12) & TranslationLookasideBuffer.IndexMask);
            if (TranslationLookasideBuffer.Hits(entry, at, FastPathRights(kind)))
                // Safe: the hit covers the page at `at` and chunk stops at its end.
                new ReadOnlySpan<byte>(entry->Host + (at & 0xFFF), chunk).CopyTo(destination.Slice(done, chunk));
            else
                ReadPhysical(TranslateAndCache(at, kind), destination.Slice(done, chunk));
            done += chunk;
        }
    }

    public void WriteBytes(ulong linear, ReadOnlySpan<byte> source, AccessKind kind = AccessKind.Write)
    {
        // Translate every page first, so a fault on the second page leaves memory untouched, as the CPU does.
        ulong firstPhysical = TranslateAndCache(linear, kind);
        if (CrossesPage(linear, source.Length)) TranslateAndCache((linear | 0xFFF) + 1, kind);
        int done = 0;
        while (done < source.Length)
        {
            ulong at = linear + (ulong)done;
            int chunk = (int)Math.Min((ulong)(source.Length - done), 0x1000 - (at & 0xFFF));
            ulong physical = done == 0 ? firstPhysical : TranslateAndCache(at, kind);
            WritePhysical(physical, source.Slice(done, chunk));
            done += chunk;
        }
    }

    /// <summary>
    /// Maps <paramref name="device"/> at [<paramref name="base"/>, +<paramref name="length"/>) for this vCPU only,
    /// ahead of RAM and the shared MMIO bus (the local APIC page; offsets are relative to the base). Mapping a device
    /// that is already mapped moves it. Empties the TLB, which may hold RAM pointers for the new range. Call on the
    /// vCPU's own thread (or while it is stopped).
    /// </summary>
    public void MapLocalDevice(ulong @base, ulong length, IBusDevice device)
    {
        if (length == 0 || @base + length < @base) throw new ArgumentOutOfRangeException(nameof(length));
        var kept = _localDevices.Where(d => !ReferenceEquals(d.Device, device)).ToList();
        foreach (var other in kept)
            if (other.Overlaps(@base, length))
                throw new BusRangeConflictException($"local device range 0x{@base:x}+0x{length:x} overlaps 0x{other.Base:x}+0x{other.Length:x}");
        kept.Add(new LocalDevice(@base, length, device));
        _localDevices = kept.ToArray();
        Tlb.Flush(includeGlobal: true);
    }

    /// <summary>Removes a per-CPU device mapped with <see cref="MapLocalDevice"/> (e.g. the APIC globally disabled).</summary>
    public void UnmapLocalDevice(IBusDevice device)
    {
        _localDevices = _localDevices.Where(d => !ReferenceEquals(d.Device, device)).ToArray();
        Tlb.Flush(includeGlobal: true);
    }

    /// <summary>Where <paramref name="device"/> is mapped for this vCPU, or null.</summary>
    public ulong? LocalDeviceBase(IBusDevice device)
    {
        foreach (var d in _localDevices)
            if (ReferenceEquals(d.Device, device)) return d.Base;
        return null;
    }

    /// <summary>Reads guest-physical memory as this CPU sees it: its local devices, then RAM, then the MMIO bus.</summary>
    public unsafe void ReadPhysical(ulong physical, Span<byte> destination)
    {
        foreach (var d in _localDevices)
            if (d.Contains(physical))
            {
                d.Device.Read(physical - d.Base, destination);
                return;
            }
        byte* p = RamPointer(physical, destination.Length);
        // Safe: RamPointer returns non-null only when the whole range lies in one RAM region.
        if (p != null) new ReadOnlySpan<byte>(p, destination.Length).CopyTo(destination);
        else
        {
            MmioAccesses++;
            Mmio.Read(physical, destination);
        }
    }

    /// <summary>Writes guest-physical memory as this CPU sees it; stores to RAM holding code are reported.</summary>
    public unsafe void WritePhysical(ulong physical, ReadOnlySpan<byte> source)
    {
        foreach (var d in _localDevices)
            if (d.Contains(physical))
            {
                d.Device.Write(physical - d.Base, source);
                return;
            }
        byte* p = RamPointer(physical, source.Length);
        if (p != null)
        {
            // Safe: RamPointer returns non-null only when the whole range lies in one RAM region.
            FreshPageCopy.Copy(source, new Span<byte>(p, source.Length));
            CodePages.NoteWrite(physical, source.Length);
            if (DirtyLog is { Enabled: true } log) log.NoteWrite(physical, source.Length);
        }
        else
        {
            MmioAccesses++;
            Mmio.Write(physical, source);
        }
    }

    /// <summary>The host address of a 4 KiB physical page if all of it is RAM this CPU reaches directly, else null.</summary>
    internal unsafe byte* FastRamPage(ulong physicalPage)
    {
        foreach (var d in _localDevices)
            if (d.Overlaps(physicalPage, 0x1000)) return null;
        return RamPointer(physicalPage, 0x1000);
    }

    /// <summary>A pointer to <paramref name="size"/> bytes of RAM at a physical address, or null for MMIO.</summary>
    internal unsafe byte* RamPointer(ulong physical, int size)
    {
        var region = _lastRegion;
        if (region is null || !region.Contains(physical, (ulong)size))
        {
            region = Ram.FindRegion(physical, (ulong)size);
            if (region is null) return null;
            _lastRegion = region;
        }
        // Safe: the region contains [physical, physical+size) (checked above) and stays mapped as long as the machine.
        return (byte*)region.HostAddress + (physical - region.GuestPhysicalAddress);
    }

    /// <summary>Asks the translator (which may fault); caches identity translations, as the paging unit caches its own.</summary>
    private ulong TranslateAndCache(ulong linear, AccessKind kind)
    {
        ulong physical = _translator.Translate(linear, kind);
        if (_cachesIdentity) Tlb.Insert(linear, physical, TlbRights.All, global: false, forWrite: kind is AccessKind.Write or AccessKind.SystemStructureWrite);
        return physical;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe ulong ReadSlow(ulong linear, int size, AccessKind kind)
    {
        if (!CrossesPage(linear, size))
        {
            // One page: translate (a walk, or a translator that caches nothing) and read RAM directly if it is RAM.
            ulong physical = TranslateAndCache(linear, kind);
            byte* p = _localDevices.Length == 0 ? RamPointer(physical, size) : null;
            // Safe: RamPointer checked that all size bytes are RAM of one region.
            if (p != null)
                return size switch
                {
                    1 => *p,
                    2 => Unsafe.ReadUnaligned<ushort>(p),
                    4 => Unsafe.ReadUnaligned<uint>(p),
                    _ => Unsafe.ReadUnaligned<ulong>(p),
                };
            Span<byte> device = stackalloc byte[8];
            device.Clear();
            ReadPhysical(physical, device[..size]);
            return BinaryPrimitives.ReadUInt64LittleEndian(device);
        }
        Span<byte> data = stackalloc byte[8];
        data.Clear();
        ReadBytes(linear, data[..size], kind);
        return BinaryPrimitives.ReadUInt64LittleEndian(data);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe void WriteSlow(ulong linear, int size, ulong value, AccessKind kind)
    {
        Span<byte> data = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(data, value);
        if (!CrossesPage(linear, size))
        {
            ulong physical = TranslateAndCache(linear, kind);
            byte* p = _localDevices.Length == 0 ? RamPointer(physical, size) : null;
            if (p == null)
            {
                WritePhysical(physical, data[..size]);
                return;
            }
            // Safe: RamPointer checked that all size bytes are RAM of one region.
            switch (size)
            {
                case 1: *p = (byte)value; break;
                case 2: Unsafe.WriteUnaligned(p, (ushort)value); break;
                case 4: Unsafe.WriteUnaligned(p, (uint)value); break;
                default: Unsafe.WriteUnaligned(p, value); break;
            }
            CodePages.NoteWrite(physical, size);
            if (DirtyLog is { Enabled: true } log) log.NoteWrite(physical, size);
            return;
        }
        WriteBytes(linear, data[..size], kind);
    }
}
