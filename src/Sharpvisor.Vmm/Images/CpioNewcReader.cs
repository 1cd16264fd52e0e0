using System.Globalization;
using System.Text;
using System.IO.Compression;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// Reads newc cpio archives (magic 070701, or 070702 with checksums), the initramfs format: a 110-byte ASCII header
/// of thirteen 8-hex-digit fields, the NUL-terminated name padded so header+name is a multiple of 4, then the data
/// padded to 4. "TRAILER!!!" ends an archive; like the kernel, the reader continues with another archive if one
/// follows (after zero padding), since initramfs images are often concatenations.
/// </summary>
public static class CpioNewcReader
{
    private const int HeaderLength = 110;
    private const string Trailer = "TRAILER!!!";

    /// <summary>The entries of an uncompressed archive, in order (without the trailers).</summary>
    /// <exception cref="InvalidDataException">A header is malformed or an entry runs past the data.</exception>
    public static IReadOnlyList<CpioEntry> Read(ReadOnlyMemory<byte> archive)
    {
        var entries = new List<CpioEntry>();
        ReadOnlySpan<byte> span = archive.Span;
        int position = 0;
        while (true)
        {
            while (position < span.Length && span[position] == 0) position++;
            if (position >= span.Length) return entries;
            if (span.Length - position < HeaderLength) throw new InvalidDataException($"Truncated cpio header at {position}.");
            var header = span.Slice(position, HeaderLength);
            if (!header[..6].SequenceEqual("070701"u8) && !header[..6].SequenceEqual("070702"u8))
                throw new InvalidDataException($"No newc cpio magic at {position}.");
            uint mode = Field(header, 1, position);
            uint fileSize = Field(header, 6, position);
            uint nameSize = Field(header, 11, position);
            if (nameSize == 0) throw new InvalidDataException($"Empty cpio name at {position}.");
            int nameStart = position + HeaderLength;
            if ((long)nameStart + nameSize > span.Length) throw new InvalidDataException($"cpio name at {nameStart} runs past the data.");
            string name = Encoding.UTF8.GetString(span.Slice(nameStart, (int)nameSize - 1));
            int dataStart = Align4(nameStart + (int)nameSize);
            if ((long)dataStart + fileSize > span.Length) throw new InvalidDataException($"cpio entry {name} runs past the data.");
            position = Align4(dataStart + (int)fileSize);
            if (name == Trailer) continue;
            entries.Add(new CpioEntry(name, mode, archive.Slice(dataStart, (int)fileSize)));
        }
    }

    /// <summary>The entries of a gzip'd archive such as the default guest's initramfs.cpio.gz.</summary>
    public static IReadOnlyList<CpioEntry> ReadGzipped(ReadOnlyMemory<byte> compressed)
    {
        var plain = new MemoryStream();
        using (var gzip = new GZipStream(new MemoryStream(compressed.ToArray(), writable: false), CompressionMode.Decompress))
            gzip.CopyTo(plain);
        return Read(plain.GetBuffer().AsMemory(0, (int)plain.Length));
    }

    private static uint Field(ReadOnlySpan<byte> header, int index, int position)
    {
        var text = Encoding.ASCII.GetString(header.Slice(6 + index * 8, 8));
        if (!uint.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint value))
            throw new InvalidDataException($"cpio header field {index} at {position} is not hexadecimal: '{text}'.");
        return value;
    }

    private static int Align4(int value) => (value + 3) & ~3;
}
