using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// The emulated CPU's view of memory: linear addresses through the translator, then guest RAM by pointer, or a device
/// on the MMIO bus. Stores to pages holding decoded code are reported to the <see cref="CodePages"/> tracker.
/// </summary>
public sealed unsafe class EmulatedMemory(GuestMemory ram, MmioBus mmio, IAddressTranslator translator)
{
    private GuestMemoryRegion? _lastRegion;

    public GuestMemory Ram { get; } = ram;
    public MmioBus Mmio { get; } = mmio;
    public IAddressTranslator Translator { get; set; } = translator;
    public CodePageTracker CodePages { get; } = new(ram.Regions.Max(r => r.End));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool CrossesPage(ulong linear, int size) => ((linear & 0xFFF) + (ulong)size) > 0x1000;

    /// <summary>A pointer to <paramref name="size"/> bytes of RAM at a physical address, or null for MMIO.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* RamPointer(ulong physical, int size)
    {
        var region = _lastRegion;
        if (region is null || !region.Contains(physical, (ulong)size))
        {
            region = Ram.FindRegion(physical, (ulong)size);
            if (region is null) return null;
            _lastRegion = region;
        }
        return (byte*)region.HostAddress + (physical - region.GuestPhysicalAddress);
    }

    public ulong Read(ulong linear, int size, AccessKind kind = AccessKind.Read)
    {
        if (CrossesPage(linear, size)) return ReadSplit(linear, size, kind);
        ulong physical = Translator.Translate(linear, kind);
        byte* p = RamPointer(physical, size);
        if (p == null)
        {
            Span<byte> data = stackalloc byte[8];
            data.Clear();
            Mmio.Read(physical, data[..size]);
            return BinaryPrimitives.ReadUInt64LittleEndian(data);
        }
        return size switch
        {
            1 => *p,
            2 => Unsafe.ReadUnaligned<ushort>(p),
            4 => Unsafe.ReadUnaligned<uint>(p),
            _ => Unsafe.ReadUnaligned<ulong>(p),
        };
    }

    public void Write(ulong linear, int size, ulong value)
    {
        if (CrossesPage(linear, size))
        {
            WriteSplit(linear, size, value);
            return;
        }
        ulong physical = Translator.Translate(linear, AccessKind.Write);
        byte* p = RamPointer(physical, size);
        if (p == null)
        {
            Span<byte> data = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(data, value);
            Mmio.Write(physical, data[..size]);
            return;
        }
        switch (size)
        {
            case 1: *p = (byte)value; break;
            case 2: Unsafe.WriteUnaligned(p, (ushort)value); break;
            case 4: Unsafe.WriteUnaligned(p, (uint)value); break;
            default: Unsafe.WriteUnaligned(p, value); break;
        }
        CodePages.NoteWrite(physical, size);
    }

    /// <summary>Reads up to 16 bytes (SSE operands, instruction fetch) byte range by byte range, page by page.</summary>
    public void ReadBytes(ulong linear, Span<byte> destination, AccessKind kind = AccessKind.Read)
    {
        int done = 0;
        while (done < destination.Length)
        {
            ulong at = linear + (ulong)done;
            int chunk = (int)Math.Min((ulong)(destination.Length - done), 0x1000 - (at & 0xFFF));
            ulong physical = Translator.Translate(at, kind);
            byte* p = RamPointer(physical, chunk);
            if (p == null) Mmio.Read(physical, destination.Slice(done, chunk));
            else new ReadOnlySpan<byte>(p, chunk).CopyTo(destination.Slice(done, chunk));
            done += chunk;
        }
    }

    public void WriteBytes(ulong linear, ReadOnlySpan<byte> source)
    {
        // Translate every page first, so a fault on the second page leaves memory untouched, as the CPU does.
        ulong firstPhysical = Translator.Translate(linear, AccessKind.Write);
        if (CrossesPage(linear, source.Length)) Translator.Translate((linear | 0xFFF) + 1, AccessKind.Write);
        int done = 0;
        while (done < source.Length)
        {
            ulong at = linear + (ulong)done;
            int chunk = (int)Math.Min((ulong)(source.Length - done), 0x1000 - (at & 0xFFF));
            ulong physical = done == 0 ? firstPhysical : Translator.Translate(at, AccessKind.Write);
            byte* p = RamPointer(physical, chunk);
            if (p == null) Mmio.Write(physical, source.Slice(done, chunk));
            else
            {
                source.Slice(done, chunk).CopyTo(new Span<byte>(p, chunk));
                CodePages.NoteWrite(physical, chunk);
            }
            done += chunk;
        }
    }

    private ulong ReadSplit(ulong linear, int size, AccessKind kind)
    {
        Span<byte> data = stackalloc byte[8];
        data.Clear();
        ReadBytes(linear, data[..size], kind);
        return BinaryPrimitives.ReadUInt64LittleEndian(data);
    }

    private void WriteSplit(ulong linear, int size, ulong value)
    {
        Span<byte> data = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(data, value);
        WriteBytes(linear, data[..size]);
    }
}
