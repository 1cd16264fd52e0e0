using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Machine.Boot;

/// <summary>
/// The parts of a little-endian x86 ELF executable (ELFCLASS32 or ELFCLASS64) a loader needs: the PT_LOAD segments
/// and the notes of the PT_NOTE segments, every offset and size checked against the file.
/// </summary>
public sealed class ElfImage
{
    public const uint PtLoad = 1, PtNote = 4;
    public const ushort EtExec = 2, EtDyn = 3;
    public const ushort EmI386 = 3, EmX8664 = 62;

    public bool Is64Bit { get; }
    public ushort Machine { get; }
    public ulong Entry { get; }
    public IReadOnlyList<ElfSegment> LoadSegments { get; }
    public IReadOnlyList<ElfNote> Notes { get; }

    private ElfImage(bool is64Bit, ushort machine, ulong entry, List<ElfSegment> segments, List<ElfNote> notes)
    {
        Is64Bit = is64Bit;
        Machine = machine;
        Entry = entry;
        LoadSegments = segments;
        Notes = notes;
    }

    public static bool HasElfMagic(ReadOnlySpan<byte> file) =>
        file.Length >= 4 && file[0] == 0x7F && file[1] == (byte)'E' && file[2] == (byte)'L' && file[3] == (byte)'F';

    public static ElfImage Parse(ReadOnlySpan<byte> file)
    {
        if (!HasElfMagic(file)) throw new KernelImageException("not an ELF file: no \\x7fELF magic");
        if (file.Length < 52) throw new KernelImageException($"ELF file is truncated: {file.Length} bytes");
        bool is64 = file[4] switch
        {
            1 => false,
            2 => true,
            var c => throw new KernelImageException($"ELF file has an unknown class {c} (expected 1 = 32-bit or 2 = 64-bit)"),
        };
        if (file[5] != 1) throw new KernelImageException("ELF file is not little-endian; x86 kernels are");
        if (file[6] != 1) throw new KernelImageException($"ELF file has identification version {file[6]}, expected 1");
        if (is64 && file.Length < 64) throw new KernelImageException($"ELF64 file is truncated: {file.Length} bytes");

        ushort type = U16(file, 16), machine = U16(file, 18);
        if (type is not (EtExec or EtDyn))
            throw new KernelImageException($"ELF file is of type {type}, not an executable (ET_EXEC or ET_DYN)");
        if (machine is not (EmI386 or EmX8664))
            throw new KernelImageException($"ELF file is for machine {machine}, not x86 (3) or x86-64 (62)");

        ulong entry, phoff;
        int phentsize, phnum;
        if (is64)
        {
            entry = U64(file, 24);
            phoff = U64(file, 32);
            phentsize = U16(file, 54);
            phnum = U16(file, 56);
        }
        else
        {
            entry = U32(file, 24);
            phoff = U32(file, 28);
            phentsize = U16(file, 42);
            phnum = U16(file, 44);
        }
        int expectedEntrySize = is64 ? 56 : 32;
        if (phnum == 0) throw new KernelImageException("ELF file has no program headers");
        if (phnum == 0xFFFF) throw new KernelImageException("ELF file has more program headers than this loader reads (PN_XNUM)");
        if (phentsize < expectedEntrySize)
            throw new KernelImageException($"ELF program header entries are {phentsize} bytes, expected at least {expectedEntrySize}");
        CheckRange(file, phoff, (ulong)phentsize * (ulong)phnum, "the program header table");

        var segments = new List<ElfSegment>();
        var notes = new List<ElfNote>();
        for (int i = 0; i < phnum; i++)
        {
            var ph = file.Slice((int)phoff + i * phentsize, expectedEntrySize);
            uint pType = U32(ph, 0);
            ulong offset, vaddr, paddr, filesz, memsz, align;
            if (is64)
            {
                offset = U64(ph, 8); vaddr = U64(ph, 16); paddr = U64(ph, 24);
                filesz = U64(ph, 32); memsz = U64(ph, 40); align = U64(ph, 48);
            }
            else
            {
                offset = U32(ph, 4); vaddr = U32(ph, 8); paddr = U32(ph, 12);
                filesz = U32(ph, 16); memsz = U32(ph, 20); align = U32(ph, 28);
            }
            if (pType == PtLoad)
            {
                CheckRange(file, offset, filesz, $"PT_LOAD segment {i}");
                if (filesz > memsz)
                    throw new KernelImageException($"PT_LOAD segment {i} has more file bytes (0x{filesz:x}) than memory (0x{memsz:x})");
                if (paddr + memsz < paddr)
                    throw new KernelImageException($"PT_LOAD segment {i} at 0x{paddr:x}+0x{memsz:x} wraps around");
                segments.Add(new ElfSegment(offset, filesz, vaddr, paddr, memsz));
            }
            else if (pType == PtNote)
            {
                CheckRange(file, offset, filesz, $"PT_NOTE segment {i}");
                ParseNotes(file.Slice((int)offset, (int)filesz), align == 8 ? 8 : 4, i, notes);
            }
        }
        return new ElfImage(is64, machine, entry, segments, notes);
    }

    /// <summary>Notes: namesz, descsz, type (u32 each), then name and descriptor, each padded to the alignment.</summary>
    private static void ParseNotes(ReadOnlySpan<byte> data, int alignment, int segmentIndex, List<ElfNote> notes)
    {
        int pos = 0;
        while (data.Length - pos >= 12)
        {
            uint nameSize = U32(data, pos), descSize = U32(data, pos + 4), type = U32(data, pos + 8);
            ulong nameStart = (ulong)pos + 12;
            ulong descStart = nameStart + Align(nameSize, alignment);
            ulong next = descStart + Align(descSize, alignment);
            if (descStart + descSize > (ulong)data.Length)
                throw new KernelImageException($"a note in PT_NOTE segment {segmentIndex} runs past the segment's end");
            var name = data.Slice((int)nameStart, (int)nameSize);
            int nul = name.IndexOf((byte)0);
            if (nul >= 0) name = name[..nul];
            notes.Add(new ElfNote(Encoding.ASCII.GetString(name), type, data.Slice((int)descStart, (int)descSize).ToArray()));
            pos = (int)Math.Min(next, (ulong)data.Length);
        }
    }

    private static ulong Align(uint value, int alignment) => ((ulong)value + (ulong)alignment - 1) & ~((ulong)alignment - 1);

    private static void CheckRange(ReadOnlySpan<byte> file, ulong offset, ulong size, string what)
    {
        if (offset > (ulong)file.Length || size > (ulong)file.Length - offset)
            throw new KernelImageException(
                $"ELF file is truncated: {what} (0x{size:x} bytes at offset 0x{offset:x}) lies beyond its {file.Length} bytes");
    }

    private static ushort U16(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt16LittleEndian(b[at..]);
    private static uint U32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
    private static ulong U64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);
}
