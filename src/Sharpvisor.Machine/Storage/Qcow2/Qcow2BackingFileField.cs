using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// Rewrites an image's backing file name and format in its first cluster: the header's name offset and size, the
/// header extensions (all kept but the backing format, which is replaced or dropped) and the name after them, in one
/// write of the region that changed.
/// </summary>
internal static class Qcow2BackingFileField
{
    private const int NameOffsetField = 8, NameSizeField = 16;

    /// <param name="first">The image's first cluster as it is on disk.</param>
    /// <returns>The new start of the file, as long as the old header region (or longer), to write at offset 0.</returns>
    public static byte[] Rewrite(ReadOnlySpan<byte> first, Qcow2Header header, string? name, string? format)
    {
        int cluster = (int)header.ClusterSize;
        var extensions = new List<(uint Type, byte[] Data)>();
        int at = (int)header.HeaderLength;
        while (true)
        {
            uint type = BinaryPrimitives.ReadUInt32BigEndian(first[at..]), length = BinaryPrimitives.ReadUInt32BigEndian(first[(at + 4)..]);
            if (type == Qcow2Header.ExtensionEnd) break;
            if (type != Qcow2Header.ExtensionBackingFormat) extensions.Add((type, first.Slice(at + 8, (int)length).ToArray()));
            at += 8 + (int)((length + 7) & ~7u);
        }
        int oldEnd = header.BackingFileOffset != 0 ? (int)(header.BackingFileOffset + header.BackingFileSize) : at + 8;
        if (name is not null && format is not null) extensions.Insert(0, (Qcow2Header.ExtensionBackingFormat, Encoding.UTF8.GetBytes(format)));

        byte[] nameBytes = name is null ? [] : Encoding.UTF8.GetBytes(name);
        if (name is not null && nameBytes.Length is 0 or > 1023) throw new ArgumentException("a backing file name is 1..1023 bytes", nameof(name));
        int newEnd = (int)header.HeaderLength + extensions.Sum(e => 8 + ((e.Data.Length + 7) & ~7)) + 8 + nameBytes.Length;
        if (newEnd > cluster) throw new IOException("qcow2: the header, its extensions and the backing file name do not fit the first cluster");

        var region = new byte[Math.Max(oldEnd, newEnd)];
        first[..(int)header.HeaderLength].CopyTo(region);
        int write = (int)header.HeaderLength;
        foreach (var (type, data) in extensions)
        {
            BinaryPrimitives.WriteUInt32BigEndian(region.AsSpan(write), type);
            BinaryPrimitives.WriteUInt32BigEndian(region.AsSpan(write + 4), (uint)data.Length);
            data.CopyTo(region, write + 8);
            write += 8 + ((data.Length + 7) & ~7);
        }
        write += 8;                                         // the end-of-extensions marker: zeros
        nameBytes.CopyTo(region, write);
        BinaryPrimitives.WriteUInt64BigEndian(region.AsSpan(NameOffsetField), name is null ? 0 : (ulong)write);
        BinaryPrimitives.WriteUInt32BigEndian(region.AsSpan(NameSizeField), (uint)nameBytes.Length);
        return region;
    }
}
