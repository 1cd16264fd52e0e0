namespace Sharpvisor.Coverage.Compression;

/// <summary>
/// The LZ4 "legacy" frame (what `lz4 -l` writes and the Linux boot decompressor reads): the magic 0x184C2102, then
/// blocks, each a 4-byte little-endian compressed size followed by an independent LZ4 block (decoded by K4os through
/// <see cref="Lz4Block"/>; K4os reads only its own frame format, not this one) that expands to at most
/// 8 MiB. The kernel build appends the 4-byte uncompressed size after the last block; a stream may also contain
/// the magic again where another frame was concatenated.
/// </summary>
public static class Lz4LegacyFrame
{
    public const uint Magic = 0x184C2102;

    /// <summary>Largest output of one block in this format.</summary>
    public const int MaximumBlockOutput = 8 << 20;

    public static bool HasMagic(ReadOnlySpan<byte> data) =>
        data.Length >= 4 && BitConverter.ToUInt32(data[..4]) == Magic;

    /// <summary>Decompresses a whole legacy frame.</summary>
    /// <exception cref="InvalidDataException">The data is not a legacy frame or a block is malformed.</exception>
    public static byte[] Decompress(ReadOnlySpan<byte> data)
    {
        if (!HasMagic(data)) throw new InvalidDataException("Not an LZ4 legacy frame (magic 0x184C2102 missing).");
        var output = new MemoryStream();
        byte[] block = new byte[MaximumBlockOutput];
        int position = 4;
        while (data.Length - position >= 4)
        {
            uint size = BitConverter.ToUInt32(data.Slice(position, 4));
            if (size == Magic)
            {
                position += 4;
                continue;
            }
            // The trailing uncompressed size: the last 4 bytes, not followed by a block.
            if (data.Length - position == 4) break;
            position += 4;
            if (size == 0 || size > data.Length - position)
                throw new InvalidDataException($"LZ4 legacy block at {position - 4} claims {size} bytes, {data.Length - position} remain.");
            int written = Lz4Block.Decompress(data.Slice(position, (int)size), block);
            output.Write(block, 0, written);
            position += (int)size;
        }
        return output.ToArray();
    }
}
