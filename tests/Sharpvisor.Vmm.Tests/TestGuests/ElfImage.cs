using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Tests.TestGuests;

/// <summary>A minimal ELF64 reader for the tests: the header, program headers and the bytes at a physical address.</summary>
internal sealed class ElfImage
{
    public readonly record struct ProgramHeader(uint Type, uint Flags, ulong Offset, ulong VirtualAddress,
                                                ulong PhysicalAddress, ulong FileSize, ulong MemorySize, ulong Align);

    public ElfImage(byte[] file)
    {
        File = file;
        var s = file.AsSpan();
        Assert.True(s.Length >= 64, "shorter than an ELF header");
        Assert.Equal([0x7F, (byte)'E', (byte)'L', (byte)'F'], s[..4].ToArray());
        Class = s[4];
        DataEncoding = s[5];
        Type = BinaryPrimitives.ReadUInt16LittleEndian(s[16..]);
        Machine = BinaryPrimitives.ReadUInt16LittleEndian(s[18..]);
        Entry = BinaryPrimitives.ReadUInt64LittleEndian(s[24..]);
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(s[32..]);
        PhEntSize = BinaryPrimitives.ReadUInt16LittleEndian(s[54..]);
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(s[56..]);
        for (int i = 0; i < phnum; i++)
        {
            var ph = s.Slice((int)phoff + i * PhEntSize, 56);
            ProgramHeaders.Add(new ProgramHeader(
                BinaryPrimitives.ReadUInt32LittleEndian(ph),
                BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]),
                BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]),
                BinaryPrimitives.ReadUInt64LittleEndian(ph[24..]),
                BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]),
                BinaryPrimitives.ReadUInt64LittleEndian(ph[40..]),
                BinaryPrimitives.ReadUInt64LittleEndian(ph[48..])));
        }
    }

    public byte[] File { get; }
    public byte Class { get; }
    public byte DataEncoding { get; }
    public ushort Type { get; }
    public ushort Machine { get; }
    public ulong Entry { get; }
    public ushort PhEntSize { get; }
    public List<ProgramHeader> ProgramHeaders { get; } = [];

    public ProgramHeader Load => ProgramHeaders.Single(p => p.Type == 1);
    public ProgramHeader Note => ProgramHeaders.Single(p => p.Type == 4);

    /// <summary>Bytes of the loaded segment at a guest-physical address (zero past the file part, as a loader does).</summary>
    public byte[] ReadPhysical(ulong address, int length)
    {
        var load = Load;
        Assert.True(address >= load.PhysicalAddress && address + (ulong)length <= load.PhysicalAddress + load.MemorySize,
                    $"0x{address:x} is outside the loaded segment");
        var result = new byte[length];
        for (int i = 0; i < length; i++)
        {
            ulong rel = address + (ulong)i - load.PhysicalAddress;
            if (rel < load.FileSize) result[i] = File[(int)(load.Offset + rel)];
        }
        return result;
    }

    public ulong ReadPhysicalUInt64(ulong address) => BinaryPrimitives.ReadUInt64LittleEndian(ReadPhysical(address, 8));

    /// <summary>The notes of the PT_NOTE segment: (name, type, descriptor).</summary>
    public List<(string Name, uint Type, byte[] Descriptor)> Notes()
    {
        var note = Note;
        var list = new List<(string, uint, byte[])>();
        int pos = (int)note.Offset, end = (int)(note.Offset + note.FileSize);
        while (pos + 12 <= end)
        {
            int namesz = (int)BinaryPrimitives.ReadUInt32LittleEndian(File.AsSpan(pos));
            int descsz = (int)BinaryPrimitives.ReadUInt32LittleEndian(File.AsSpan(pos + 4));
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(File.AsSpan(pos + 8));
            int nameStart = pos + 12;
            int descStart = nameStart + ((namesz + 3) & ~3);
            string name = System.Text.Encoding.ASCII.GetString(File, nameStart, Math.Max(0, namesz - 1));
            list.Add((name, type, File.AsSpan(descStart, descsz).ToArray()));
            pos = descStart + ((descsz + 3) & ~3);
        }
        Assert.Equal(end, pos);
        return list;
    }
}
