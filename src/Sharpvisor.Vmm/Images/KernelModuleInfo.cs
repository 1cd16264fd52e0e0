using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// Reads the ".modinfo" section of a kernel module (an ELF64 little-endian relocatable object): NUL-separated
/// "key=value" strings such as "depends=virtio,virtio_ring" and "name=virtio_blk". modpost fills "depends" with the
/// modules whose symbols this one uses, which is what depmod turns into modules.dep.
/// </summary>
public static class KernelModuleInfo
{
    public static IReadOnlyList<KeyValuePair<string, string>> Read(ReadOnlySpan<byte> elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7F || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("Not an ELF file.");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("Only ELF64 little-endian modules are supported.");

        ulong sectionTableOffset = BinaryPrimitives.ReadUInt64LittleEndian(elf[0x28..]);
        int sectionHeaderSize = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3A..]);
        int sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3C..]);
        int namesSectionIndex = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3E..]);
        if (sectionHeaderSize < 64 || namesSectionIndex >= sectionCount)
            throw new InvalidDataException("Malformed ELF section header table.");

        ReadOnlySpan<byte> sectionNames = SectionData(elf, SectionHeader(elf, sectionTableOffset, sectionHeaderSize, namesSectionIndex));
        for (int i = 0; i < sectionCount; i++)
        {
            ReadOnlySpan<byte> header = SectionHeader(elf, sectionTableOffset, sectionHeaderSize, i);
            int nameOffset = (int)BinaryPrimitives.ReadUInt32LittleEndian(header);
            if (nameOffset >= sectionNames.Length) continue;
            ReadOnlySpan<byte> name = sectionNames[nameOffset..];
            int end = name.IndexOf((byte)0);
            if (end >= 0) name = name[..end];
            if (name.SequenceEqual(".modinfo"u8)) return ParseStrings(SectionData(elf, header));
        }
        throw new InvalidDataException("The module has no .modinfo section.");
    }

    public static IReadOnlyList<KeyValuePair<string, string>> ReadFile(string path) => Read(File.ReadAllBytes(path));

    /// <summary>The module names listed in "depends=", empty if there are none.</summary>
    public static IReadOnlyList<string> Dependencies(IReadOnlyList<KeyValuePair<string, string>> info)
    {
        foreach (var (key, value) in info)
        {
            if (key == "depends")
                return value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(KernelModule.NormalizeName).ToArray();
        }
        return [];
    }

    private static ReadOnlySpan<byte> SectionHeader(ReadOnlySpan<byte> elf, ulong tableOffset, int entrySize, int index)
    {
        ulong start = tableOffset + (ulong)index * (ulong)entrySize;
        if (start > (ulong)elf.Length || (ulong)elf.Length - start < 64)
            throw new InvalidDataException("ELF section header beyond end of file.");
        return elf.Slice((int)start, 64);
    }

    private static ReadOnlySpan<byte> SectionData(ReadOnlySpan<byte> elf, ReadOnlySpan<byte> header)
    {
        ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(header[0x18..]);
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(header[0x20..]);
        if (offset > (ulong)elf.Length || size > (ulong)elf.Length - offset)
            throw new InvalidDataException("ELF section beyond end of file.");
        return elf.Slice((int)offset, (int)size);
    }

    private static List<KeyValuePair<string, string>> ParseStrings(ReadOnlySpan<byte> section)
    {
        var result = new List<KeyValuePair<string, string>>();
        while (!section.IsEmpty)
        {
            int end = section.IndexOf((byte)0);
            ReadOnlySpan<byte> entry = end < 0 ? section : section[..end];
            section = end < 0 ? ReadOnlySpan<byte>.Empty : section[(end + 1)..];
            int equals = entry.IndexOf((byte)'=');
            if (equals <= 0) continue; // padding between strings, or junk
            result.Add(new(Encoding.UTF8.GetString(entry[..equals]), Encoding.UTF8.GetString(entry[(equals + 1)..])));
        }
        return result;
    }
}
