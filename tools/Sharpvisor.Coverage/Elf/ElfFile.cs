using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Coverage.Elf;

/// <summary>
/// Reads the headers of a little-endian ELF64 file (x86-64 executables, shared objects, kernel modules, vmlinux):
/// its section headers with names and its program headers. Only what a code census needs; no relocation, no
/// symbols. All offsets are checked against the file length, so a truncated file gives an InvalidDataException.
/// </summary>
public sealed class ElfFile
{
    public const ulong SectionFlagExecute = 0x4;   // SHF_EXECINSTR
    public const uint SectionTypeNoBits = 8;       // SHT_NOBITS
    public const uint SegmentTypeLoad = 1;         // PT_LOAD
    public const uint SegmentFlagExecute = 0x1;    // PF_X
    public const ushort MachineX86_64 = 62;        // EM_X86_64

    private const int HeaderSize = 64;
    private const int SectionHeaderSize = 64;
    private const int ProgramHeaderSize = 56;

    private readonly ReadOnlyMemory<byte> _data;

    private ElfFile(ReadOnlyMemory<byte> data, ushort type, ushort machine, ulong entry,
        IReadOnlyList<ElfSection> sections, IReadOnlyList<ElfSegment> segments)
    {
        _data = data;
        Type = type;
        Machine = machine;
        Entry = entry;
        Sections = sections;
        Segments = segments;
    }

    /// <summary>e_type: 1 relocatable (.ko), 2 executable, 3 shared/PIE.</summary>
    public ushort Type { get; }

    /// <summary>e_machine: 62 for x86-64.</summary>
    public ushort Machine { get; }

    public ulong Entry { get; }

    public IReadOnlyList<ElfSection> Sections { get; }

    public IReadOnlyList<ElfSegment> Segments { get; }

    /// <summary>True when the bytes start with the ELF magic 7F 'E' 'L' 'F'.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> data) => data.Length >= 4 && data[0] == 0x7F && data[1..4].SequenceEqual("ELF"u8);

    /// <exception cref="InvalidDataException">Not a little-endian ELF64 file, or a header points outside it.</exception>
    public static ElfFile Parse(ReadOnlyMemory<byte> data)
    {
        ReadOnlySpan<byte> file = data.Span;
        if (file.Length < HeaderSize || !HasMagic(file)) throw new InvalidDataException("Not an ELF file.");
        if (file[4] != 2) throw new InvalidDataException($"Not ELF64 (EI_CLASS {file[4]}).");
        if (file[5] != 1) throw new InvalidDataException($"Not little-endian (EI_DATA {file[5]}).");

        ushort type = U16(file, 16);
        ushort machine = U16(file, 18);
        ulong entry = U64(file, 24);
        ulong programHeaderOffset = U64(file, 32);
        ulong sectionHeaderOffset = U64(file, 40);
        ushort programHeaderEntrySize = U16(file, 54);
        ushort programHeaderCount = U16(file, 56);
        ushort sectionHeaderEntrySize = U16(file, 58);
        ushort sectionHeaderCount = U16(file, 60);
        ushort sectionNameTableIndex = U16(file, 62);

        var segments = new List<ElfSegment>();
        if (programHeaderCount != 0)
        {
            if (programHeaderEntrySize < ProgramHeaderSize)
                throw new InvalidDataException($"Program header entries of {programHeaderEntrySize} bytes are too small.");
            CheckRange(file, programHeaderOffset, (ulong)programHeaderEntrySize * programHeaderCount, "program headers");
            for (int i = 0; i < programHeaderCount; i++)
            {
                int at = (int)programHeaderOffset + i * programHeaderEntrySize;
                segments.Add(new ElfSegment(U32(file, at), U32(file, at + 4), U64(file, at + 8), U64(file, at + 16),
                    U64(file, at + 32), U64(file, at + 40)));
            }
        }

        var sections = new List<ElfSection>();
        if (sectionHeaderOffset != 0 && sectionHeaderCount != 0)
        {
            if (sectionHeaderEntrySize < SectionHeaderSize)
                throw new InvalidDataException($"Section header entries of {sectionHeaderEntrySize} bytes are too small.");
            CheckRange(file, sectionHeaderOffset, (ulong)sectionHeaderEntrySize * sectionHeaderCount, "section headers");
            var raw = new (uint NameOffset, uint Type, ulong Flags, ulong Address, ulong Offset, ulong Size)[sectionHeaderCount];
            for (int i = 0; i < sectionHeaderCount; i++)
            {
                int at = (int)sectionHeaderOffset + i * sectionHeaderEntrySize;
                raw[i] = (U32(file, at), U32(file, at + 4), U64(file, at + 8), U64(file, at + 16), U64(file, at + 24), U64(file, at + 32));
            }
            ReadOnlySpan<byte> names = default;
            if (sectionNameTableIndex < sectionHeaderCount)
            {
                var table = raw[sectionNameTableIndex];
                CheckRange(file, table.Offset, table.Size, "section name table");
                names = file.Slice((int)table.Offset, (int)table.Size);
            }
            foreach (var s in raw)
                sections.Add(new ElfSection(ReadName(names, s.NameOffset), s.Type, s.Flags, s.Address, s.Offset, s.Size));
        }

        return new ElfFile(data, type, machine, entry, sections, segments);
    }

    /// <summary>The bytes of a section as stored in the file (empty for NOBITS sections).</summary>
    public ReadOnlyMemory<byte> GetBytes(ElfSection section)
    {
        if (!section.HasFileBytes) return ReadOnlyMemory<byte>.Empty;
        CheckRange(_data.Span, section.FileOffset, section.Size, $"section {section.Name}");
        return _data.Slice((int)section.FileOffset, (int)section.Size);
    }

    /// <summary>The file-backed bytes of a segment (p_filesz of them).</summary>
    public ReadOnlyMemory<byte> GetBytes(ElfSegment segment)
    {
        CheckRange(_data.Span, segment.FileOffset, segment.FileSize, "segment");
        return _data.Slice((int)segment.FileOffset, (int)segment.FileSize);
    }

    public ElfSection? FindSection(string name) => Sections.FirstOrDefault(s => s.Name == name);

    /// <summary>
    /// The code of the file: every section flagged SHF_EXECINSTR that has file bytes; for a file without section
    /// headers (stripped of them), every executable PT_LOAD segment.
    /// </summary>
    public IReadOnlyList<CodeRegion> ExecutableRegions()
    {
        var regions = new List<CodeRegion>();
        if (Sections.Count > 0)
        {
            foreach (var section in Sections)
            {
                if (section.IsExecutable && section.HasFileBytes)
                    regions.Add(new CodeRegion(section.Name, section.Address, GetBytes(section)));
            }
            return regions;
        }
        for (int i = 0; i < Segments.Count; i++)
        {
            var segment = Segments[i];
            if (segment.IsExecutableLoad && segment.FileSize != 0)
                regions.Add(new CodeRegion($"PT_LOAD[{i}]", segment.VirtualAddress, GetBytes(segment)));
        }
        return regions;
    }

    private static string ReadName(ReadOnlySpan<byte> names, uint offset)
    {
        if (offset >= names.Length) return "";
        var rest = names[(int)offset..];
        int end = rest.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]);
    }

    private static void CheckRange(ReadOnlySpan<byte> file, ulong offset, ulong length, string what)
    {
        if (offset > (ulong)file.Length || length > (ulong)file.Length - offset)
            throw new InvalidDataException($"The {what} (offset {offset}, {length} bytes) lie outside the {file.Length}-byte file.");
    }

    private static ushort U16(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt16LittleEndian(b[at..]);
    private static uint U32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
    private static ulong U64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);
}
