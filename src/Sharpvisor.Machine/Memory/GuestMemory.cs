using System.Buffers.Binary;

namespace Sharpvisor.Machine.Memory;

/// <summary>All of a guest's RAM: its regions, and bounds-checked reads and writes by guest-physical address.</summary>
public sealed class GuestMemory : IDisposable
{
    private readonly GuestMemoryRegion[] _regions;

    public IReadOnlyList<GuestMemoryRegion> Regions => _regions;
    public ulong TotalSize { get; }

    public GuestMemory(IEnumerable<(ulong Start, ulong Size)> blocks)
    {
        var list = new List<GuestMemoryRegion>();
        try
        {
            foreach (var (start, size) in blocks.OrderBy(b => b.Start))
            {
                if (list.Count > 0 && start < list[^1].End)
                    throw new GuestMemoryException($"memory block at 0x{start:x} overlaps the one before it");
                list.Add(new GuestMemoryRegion(list.Count, start, size));
            }
        }
        catch
        {
            foreach (var r in list) r.Dispose();
            throw;
        }
        _regions = list.ToArray();
        TotalSize = (ulong)_regions.Sum(r => (decimal)r.Size);
    }

    /// <summary>Guest RAM laid out the x86 way for a guest of this size.</summary>
    public static GuestMemory CreateX86(ulong ramSize) => new(X86MemoryLayout.RamBlocks(ramSize));

    public GuestMemoryRegion? FindRegion(ulong gpa, ulong length = 1)
    {
        foreach (var r in _regions)
            if (r.Contains(gpa, length)) return r;
        return null;
    }

    public bool IsRam(ulong gpa, ulong length = 1) => FindRegion(gpa, length) != null;

    /// <summary>Bytes of guest RAM present in host memory, over all regions (see <see cref="GuestMemoryRegion.ResidentBytes"/>).</summary>
    /// <summary>Marks every region mergeable for KSM (<see cref="GuestMemoryRegion.MarkMergeable"/>).</summary>
    public void MarkMergeable()
    {
        foreach (var region in _regions) region.MarkMergeable();
    }

    public ulong ResidentBytes()
    {
        ulong total = 0;
        foreach (var r in _regions) total += r.ResidentBytes();
        return total;
    }

    /// <summary>A span over guest RAM; the whole range must lie inside one region.</summary>
    public Span<byte> GetSpan(ulong gpa, int length)
    {
        var region = FindRegion(gpa, (ulong)length)
            ?? throw new GuestMemoryException(
                $"guest-physical range 0x{gpa:x}..0x{gpa + (ulong)length:x} ({length} bytes) is not inside guest RAM");
        return region.SpanAt(gpa, length);
    }

    public void Read(ulong gpa, Span<byte> destination) => GetSpan(gpa, destination.Length).CopyTo(destination);

    public void Write(ulong gpa, ReadOnlySpan<byte> source)
    {
        var region = FindRegion(gpa, (ulong)source.Length)
            ?? throw new GuestMemoryException(
                $"guest-physical range 0x{gpa:x}..0x{gpa + (ulong)source.Length:x} ({source.Length} bytes) is not inside guest RAM");
        FreshPageCopy.Copy(source, region.SpanAt(gpa, source.Length));
        NoteWritten(region, gpa, (ulong)source.Length);
    }

    /// <summary>
    /// Raised after guest RAM changed other than by a vCPU's own stores (a device's DMA, the VMM writing a record),
    /// with the guest-physical start and the length: an engine that decodes guest code (the emulator) drops what it
    /// decoded from those pages. Runs on the writer's thread, so handlers must be thread-safe and cheap.
    /// </summary>
    public event Action<ulong, ulong>? WrittenOutsideVcpus;

    /// <summary>
    /// Records that a device changed [<paramref name="gpa"/>, +<paramref name="length"/>) directly (through
    /// <see cref="GetSpan"/>, a file read into it): marks the VMM's dirty-page log and raises
    /// <see cref="WrittenOutsideVcpus"/>. <see cref="Write"/> does this itself. A range outside RAM is ignored.
    /// </summary>
    public void NoteDeviceWrite(ulong gpa, ulong length)
    {
        if (length != 0 && FindRegion(gpa, length) is { } region) NoteWritten(region, gpa, length);
    }

    private void NoteWritten(GuestMemoryRegion region, ulong gpa, ulong length)
    {
        if (length == 0) return;
        if (region.VmmDirtyPages is { } dirty)
        {
            ulong first = (gpa - region.GuestPhysicalAddress) / GuestMemoryRegion.PageSize;
            ulong last = (gpa - region.GuestPhysicalAddress + length - 1) / GuestMemoryRegion.PageSize;
            dirty.MarkRange(first, last - first + 1);
        }
        WrittenOutsideVcpus?.Invoke(gpa, length);
    }

    public byte ReadByte(ulong gpa) => GetSpan(gpa, 1)[0];
    public ushort ReadUInt16(ulong gpa) => BinaryPrimitives.ReadUInt16LittleEndian(GetSpan(gpa, 2));
    public uint ReadUInt32(ulong gpa) => BinaryPrimitives.ReadUInt32LittleEndian(GetSpan(gpa, 4));
    public ulong ReadUInt64(ulong gpa) => BinaryPrimitives.ReadUInt64LittleEndian(GetSpan(gpa, 8));

    public void WriteByte(ulong gpa, byte value) => Write(gpa, [value]);

    public void WriteUInt16(ulong gpa, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        Write(gpa, b);
    }

    public void WriteUInt32(ulong gpa, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Write(gpa, b);
    }

    public void WriteUInt64(ulong gpa, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Write(gpa, b);
    }

    public void Dispose()
    {
        foreach (var r in _regions) r.Dispose();
    }
}
