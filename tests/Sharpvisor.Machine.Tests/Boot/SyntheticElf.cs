using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Machine.Tests.Boot;

/// <summary>Builds small ELF32/ELF64 executables with PT_LOAD segments and PT_NOTE notes for loader tests.</summary>
public sealed class SyntheticElf
{
    public sealed record Segment(ulong PhysicalAddress, byte[] Data, ulong MemorySize);
    public sealed record Note(string Name, uint Type, byte[] Descriptor);

    public bool Is64Bit { get; init; } = true;
    public ushort Machine { get; init; } = 62;
    public List<Segment> Segments { get; init; } = [];
    public List<Note> Notes { get; init; } = [];

    public static Note PvhEntryNote(ulong entry, int width = 8)
    {
        var desc = new byte[width];
        if (width == 8) BinaryPrimitives.WriteUInt64LittleEndian(desc, entry);
        else BinaryPrimitives.WriteUInt32LittleEndian(desc, (uint)entry);
        return new Note("Xen", 18, desc);
    }

    public byte[] Build()
    {
        int ehsize = Is64Bit ? 64 : 52, phentsize = Is64Bit ? 56 : 32;
        int phnum = Segments.Count + (Notes.Count > 0 ? 1 : 0);
        byte[] notes = BuildNotes();
        int notesOffset = ehsize + phnum * phentsize;
        int dataOffset = Align(notesOffset + notes.Length, 16);
        var offsets = new List<int>();
        int pos = dataOffset;
        foreach (var seg in Segments)
        {
            offsets.Add(pos);
            pos = Align(pos + seg.Data.Length, 16);
        }
        var file = new byte[pos];
        var f = file.AsSpan();
        f[0] = 0x7F; f[1] = (byte)'E'; f[2] = (byte)'L'; f[3] = (byte)'F';
        f[4] = (byte)(Is64Bit ? 2 : 1);
        f[5] = 1;
        f[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(f[16..], 2);                 // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(f[18..], Machine);
        BinaryPrimitives.WriteUInt32LittleEndian(f[20..], 1);
        if (Is64Bit)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(f[32..], (ulong)ehsize);  // e_phoff
            BinaryPrimitives.WriteUInt16LittleEndian(f[52..], (ushort)ehsize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[54..], (ushort)phentsize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[56..], (ushort)phnum);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(f[28..], (uint)ehsize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[40..], (ushort)ehsize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[42..], (ushort)phentsize);
            BinaryPrimitives.WriteUInt16LittleEndian(f[44..], (ushort)phnum);
        }

        int ph = ehsize;
        for (int i = 0; i < Segments.Count; i++, ph += phentsize)
        {
            var seg = Segments[i];
            WriteProgramHeader(f[ph..], 1, (ulong)offsets[i], 0xFFFF_FFFF_8000_0000UL + seg.PhysicalAddress,
                seg.PhysicalAddress, (ulong)seg.Data.Length, seg.MemorySize, 0x1000);
            seg.Data.CopyTo(f[offsets[i]..]);
        }
        if (Notes.Count > 0)
        {
            WriteProgramHeader(f[ph..], 4, (ulong)notesOffset, 0, 0, (ulong)notes.Length, (ulong)notes.Length, 4);
            notes.CopyTo(f[notesOffset..]);
        }
        return file;
    }

    private void WriteProgramHeader(Span<byte> p, uint type, ulong offset, ulong vaddr, ulong paddr, ulong filesz,
        ulong memsz, ulong align)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(p, type);
        if (Is64Bit)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(p[8..], offset);
            BinaryPrimitives.WriteUInt64LittleEndian(p[16..], vaddr);
            BinaryPrimitives.WriteUInt64LittleEndian(p[24..], paddr);
            BinaryPrimitives.WriteUInt64LittleEndian(p[32..], filesz);
            BinaryPrimitives.WriteUInt64LittleEndian(p[40..], memsz);
            BinaryPrimitives.WriteUInt64LittleEndian(p[48..], align);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(p[4..], (uint)offset);
            BinaryPrimitives.WriteUInt32LittleEndian(p[8..], (uint)vaddr);
            BinaryPrimitives.WriteUInt32LittleEndian(p[12..], (uint)paddr);
            BinaryPrimitives.WriteUInt32LittleEndian(p[16..], (uint)filesz);
            BinaryPrimitives.WriteUInt32LittleEndian(p[20..], (uint)memsz);
            BinaryPrimitives.WriteUInt32LittleEndian(p[28..], (uint)align);
        }
    }

    private byte[] BuildNotes()
    {
        var bytes = new List<byte>();
        var h = new byte[12];
        foreach (var n in Notes)
        {
            byte[] name = [.. Encoding.ASCII.GetBytes(n.Name), 0];
            BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)name.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), (uint)n.Descriptor.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), n.Type);
            bytes.AddRange(h);
            bytes.AddRange(name);
            while (bytes.Count % 4 != 0) bytes.Add(0);
            bytes.AddRange(n.Descriptor);
            while (bytes.Count % 4 != 0) bytes.Add(0);
        }
        return bytes.ToArray();
    }

    private static int Align(int value, int alignment) => (value + alignment - 1) / alignment * alignment;
}
