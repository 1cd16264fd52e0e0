using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Coverage.Tests.Elf;

/// <summary>Writes small little-endian ELF64 files for tests: sections with names, or program headers only.</summary>
internal static class TestElfBuilder
{
    internal sealed record Section(string Name, uint Type, ulong Flags, ulong Address, byte[] Bytes);

    internal sealed record Segment(uint Type, uint Flags, ulong Address, byte[] Bytes);

    /// <summary>An ELF with a null section, the given sections, and a .shstrtab (last).</summary>
    internal static byte[] WithSections(params Section[] sections)
    {
        var names = new MemoryStream();
        names.WriteByte(0);
        var nameOffsets = new List<uint>();
        foreach (var s in sections) nameOffsets.Add(AppendName(names, s.Name));
        uint shstrtabName = AppendName(names, ".shstrtab");

        var body = new MemoryStream();
        body.Write(new byte[64]); // ELF header, filled in below
        var offsets = new List<ulong>();
        foreach (var s in sections)
        {
            offsets.Add((ulong)body.Length);
            if (s.Type != 8) body.Write(s.Bytes);
        }
        ulong namesOffset = (ulong)body.Length;
        body.Write(names.ToArray());
        while (body.Length % 8 != 0) body.WriteByte(0);
        ulong sectionHeaders = (ulong)body.Length;

        body.Write(new byte[64]); // SHN_UNDEF
        for (int i = 0; i < sections.Length; i++)
            body.Write(SectionHeader(nameOffsets[i], sections[i].Type, sections[i].Flags, sections[i].Address, offsets[i], (ulong)sections[i].Bytes.Length));
        body.Write(SectionHeader(shstrtabName, 3, 0, 0, namesOffset, (ulong)names.Length));

        byte[] file = body.ToArray();
        WriteHeader(file, type: 1, programHeaders: 0, programHeaderCount: 0, sectionHeaders, (ushort)(sections.Length + 2),
            (ushort)(sections.Length + 1));
        return file;
    }

    /// <summary>An executable with program headers and no section headers at all.</summary>
    internal static byte[] WithSegmentsOnly(params Segment[] segments)
    {
        int headersEnd = 64 + 56 * segments.Length;
        var file = new byte[headersEnd + segments.Sum(s => s.Bytes.Length)];
        int dataOffset = headersEnd;
        for (int i = 0; i < segments.Length; i++)
        {
            var h = file.AsSpan(64 + 56 * i);
            BinaryPrimitives.WriteUInt32LittleEndian(h, segments[i].Type);
            BinaryPrimitives.WriteUInt32LittleEndian(h[4..], segments[i].Flags);
            BinaryPrimitives.WriteUInt64LittleEndian(h[8..], (ulong)dataOffset);
            BinaryPrimitives.WriteUInt64LittleEndian(h[16..], segments[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(h[24..], segments[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(h[32..], (ulong)segments[i].Bytes.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(h[40..], (ulong)segments[i].Bytes.Length + 0x100);
            segments[i].Bytes.CopyTo(file, dataOffset);
            dataOffset += segments[i].Bytes.Length;
        }
        WriteHeader(file, type: 2, programHeaders: 64, programHeaderCount: (ushort)segments.Length, 0, 0, 0);
        return file;
    }

    private static uint AppendName(MemoryStream names, string name)
    {
        uint offset = (uint)names.Length;
        names.Write(Encoding.ASCII.GetBytes(name));
        names.WriteByte(0);
        return offset;
    }

    private static byte[] SectionHeader(uint name, uint type, ulong flags, ulong address, ulong offset, ulong size)
    {
        var h = new byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(h, name);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), type);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(8), flags);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(16), address);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(24), offset);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(32), size);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(48), 16); // sh_addralign
        return h;
    }

    private static void WriteHeader(byte[] file, ushort type, ulong programHeaders, ushort programHeaderCount,
        ulong sectionHeaders, ushort sectionCount, ushort namesIndex)
    {
        var h = file.AsSpan();
        h[0] = 0x7F; h[1] = (byte)'E'; h[2] = (byte)'L'; h[3] = (byte)'F';
        h[4] = 2; h[5] = 1; h[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(h[16..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(h[18..], 62);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], 0x401000);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], programHeaders);
        BinaryPrimitives.WriteUInt64LittleEndian(h[40..], sectionHeaders);
        BinaryPrimitives.WriteUInt16LittleEndian(h[52..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(h[54..], 56);
        BinaryPrimitives.WriteUInt16LittleEndian(h[56..], programHeaderCount);
        BinaryPrimitives.WriteUInt16LittleEndian(h[58..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(h[60..], sectionCount);
        BinaryPrimitives.WriteUInt16LittleEndian(h[62..], namesIndex);
    }
}
