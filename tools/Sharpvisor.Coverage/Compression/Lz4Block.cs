using K4os.Compression.LZ4;

namespace Sharpvisor.Coverage.Compression;

/// <summary>
/// One raw LZ4 block (no frame), decoded by K4os.Compression.LZ4. This adapter gives its "-1 on malformed input"
/// the exception the rest of the census expects.
/// </summary>
public static class Lz4Block
{
    /// <summary>Decompresses <paramref name="source"/> into <paramref name="destination"/>; returns the bytes written.</summary>
    /// <exception cref="InvalidDataException">The block is malformed or does not fit the destination.</exception>
    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        // A block holds at least its last sequence's token; an empty one is a truncated stream, not empty data.
        if (source.IsEmpty) throw new InvalidDataException("LZ4 block is empty: it ends before its last sequence.");
        // The reference encoder writes this one-byte block (a last sequence of no literals) for empty input; K4os refuses it.
        if (source is [0]) return 0;
        int written = LZ4Codec.Decode(source, destination);
        if (written < 0)
            throw new InvalidDataException($"LZ4 block of {source.Length} bytes is malformed or expands past the {destination.Length}-byte output.");
        return written;
    }
}
