namespace Sharpvisor.Coverage.Compression;

/// <summary>
/// Decompresses one LZ4 block (the raw block format, no frame). A block is a run of sequences; each sequence is a
/// token byte (high nibble: literal length, low nibble: match length minus 4), the literal length's extension bytes
/// (present when the nibble is 15: add each byte, continue while it is 255), the literals, then a 2-byte
/// little-endian match offset and the match length's extension bytes. The last sequence has literals only.
/// A match may overlap its own output (offset smaller than length), which repeats a pattern.
/// </summary>
public static class Lz4Block
{
    private const int MinimumMatch = 4;

    /// <summary>Decompresses <paramref name="source"/> into <paramref name="destination"/>; returns the bytes written.</summary>
    /// <exception cref="InvalidDataException">The block is malformed or does not fit the destination.</exception>
    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int input = 0;
        int output = 0;
        while (true)
        {
            if (input >= source.Length) throw new InvalidDataException("LZ4 block ends before its last sequence.");
            int token = source[input++];

            int literalLength = ReadLength(source, ref input, token >> 4);
            if (literalLength > source.Length - input)
                throw new InvalidDataException($"LZ4 literals run past the end of the block at input {input}.");
            if (literalLength > destination.Length - output)
                throw new InvalidDataException($"LZ4 literals overflow the {destination.Length}-byte output.");
            source.Slice(input, literalLength).CopyTo(destination[output..]);
            input += literalLength;
            output += literalLength;

            // The last sequence stops after its literals.
            if (input == source.Length) return output;

            if (source.Length - input < 2) throw new InvalidDataException("LZ4 match offset is cut off.");
            int offset = source[input] | source[input + 1] << 8;
            input += 2;
            if (offset == 0 || offset > output)
                throw new InvalidDataException($"LZ4 match offset {offset} points before the output start ({output} bytes written).");

            int matchLength = ReadLength(source, ref input, token & 0xF) + MinimumMatch;
            if (matchLength > destination.Length - output)
                throw new InvalidDataException($"LZ4 match overflows the {destination.Length}-byte output.");
            int from = output - offset;
            if (offset >= matchLength)
            {
                destination.Slice(from, matchLength).CopyTo(destination[output..]);
            }
            else
            {
                // Overlapping: each byte may be one this same match just wrote.
                for (int i = 0; i < matchLength; i++) destination[output + i] = destination[from + i];
            }
            output += matchLength;
        }
    }

    private static int ReadLength(ReadOnlySpan<byte> source, ref int input, int nibble)
    {
        int length = nibble;
        if (nibble != 15) return length;
        while (true)
        {
            if (input >= source.Length) throw new InvalidDataException("LZ4 length extension is cut off.");
            byte extension = source[input++];
            length += extension;
            if (length < 0) throw new InvalidDataException("LZ4 length overflows.");
            if (extension != 255) return length;
        }
    }
}
