using System.Buffers.Binary;
using System.IO.Compression;

namespace Sharpvisor.Coverage.Compression;

/// <summary>One gzip member (RFC 1952), as in a gzip-compressed kernel payload or initramfs.</summary>
public static class GzipMember
{
    /// <summary>
    /// Inflates the first gzip member. The header (RFC 1952) is parsed here and the deflate stream read with
    /// DeflateStream, which stops at the final block, so bytes after the member (padding, an appended size) are ignored.
    /// </summary>
    public static byte[] Decompress(ReadOnlyMemory<byte> data)
    {
        ReadOnlySpan<byte> span = data.Span;
        if (span.Length < 18 || span[0] != 0x1F || span[1] != 0x8B || span[2] != 8)
            throw new InvalidDataException("Not a gzip member with deflate compression.");
        byte flags = span[3];
        int position = 10;
        if ((flags & 0x04) != 0) position += 2 + BinaryPrimitives.ReadUInt16LittleEndian(span[position..]); // FEXTRA
        if ((flags & 0x08) != 0) position = SkipZeroTerminated(span, position);                            // FNAME
        if ((flags & 0x10) != 0) position = SkipZeroTerminated(span, position);                            // FCOMMENT
        if ((flags & 0x02) != 0) position += 2;                                                            // FHCRC
        if (position >= span.Length) throw new InvalidDataException("The gzip header runs past the data.");
        using var input = new MemoryStream(data[position..].ToArray(), writable: false);
        using var deflate = new DeflateStream(input, CompressionMode.Decompress);
        var output = new MemoryStream();
        deflate.CopyTo(output);
        return output.ToArray();
    }

    private static int SkipZeroTerminated(ReadOnlySpan<byte> span, int position)
    {
        int end = position < span.Length ? span[position..].IndexOf((byte)0) : -1;
        if (end < 0) throw new InvalidDataException("A gzip header string is not terminated.");
        return position + end + 1;
    }
}
