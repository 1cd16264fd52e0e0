using System.Text;
using Sharpvisor.Coverage.Compression;

namespace Sharpvisor.Coverage.Tests.Compression;

/// <summary>
/// Blocks written by hand from the LZ4 block format rules, including its end-of-block ones (the last 5 bytes are
/// literals, the last match starts at least 12 bytes before the end), which real encoders keep and decoders may check.
/// </summary>
public class Lz4BlockTests
{
    private static byte[] Decompress(byte[] block, int capacity = 4096)
    {
        var output = new byte[capacity];
        int written = Lz4Block.Decompress(block, output);
        return output[..written];
    }

    [Fact]
    public void LiteralOnlyBlockCopiesTheLiterals()
    {
        // token 0x50: 5 literals, no match (last sequence)
        byte[] block = [0x50, .. "hello"u8];
        Assert.Equal("hello", Encoding.ASCII.GetString(Decompress(block)));
    }

    [Fact]
    public void EmptyLastSequenceGivesNothing()
    {
        Assert.Empty(Decompress([0x00]));
    }

    [Fact]
    public void MatchCopiesEarlierOutput()
    {
        // "abcd" + match(offset 4, length 4) + last literals "efghijkl"
        byte[] block = [0x40, .. "abcd"u8, 0x04, 0x00, 0x80, .. "efghijkl"u8];
        Assert.Equal("abcdabcdefghijkl", Encoding.ASCII.GetString(Decompress(block)));
    }

    [Fact]
    public void OverlappingMatchRepeatsThePattern()
    {
        // "ab" then match offset 2, length 6 (nibble 2): it reads bytes it writes itself. Then "cdefgh".
        byte[] block = [0x22, (byte)'a', (byte)'b', 0x02, 0x00, 0x60, .. "cdefgh"u8];
        Assert.Equal("ababababcdefgh", Encoding.ASCII.GetString(Decompress(block)));

        // offset 1 is run-length encoding: 'x' then 10 more, then "12345".
        byte[] run = [0x16, (byte)'x', 0x01, 0x00, 0x50, .. "12345"u8];
        Assert.Equal(new string('x', 11) + "12345", Encoding.ASCII.GetString(Decompress(run)));
    }

    [Fact]
    public void LongLengthsUseExtensionBytes()
    {
        // Literal length 15 + 255 + 10 = 280; match length 15 + 255 + 5 + 4 = 279 at offset 280.
        var literals = Enumerable.Range(0, 280).Select(i => (byte)(i * 7 + 3)).ToArray();
        byte[] block = [0xFF, 0xFF, 0x0A, .. literals, 0x18, 0x01, 0xFF, 0x05, 0x50, .. "vwxyz"u8];
        byte[] output = Decompress(block);
        Assert.Equal(280 + 279 + 5, output.Length);
        Assert.Equal(literals, output[..280]);
        Assert.Equal(literals[..279], output[280..559]);
        Assert.Equal("vwxyz"u8.ToArray(), output[559..]);
    }

    [Fact]
    public void ExtensionOfExactly255ContinuesToTheNextByte()
    {
        // 15 + 255 + 0 = 270 literals: a 255 byte always needs a following byte, here 0.
        var literals = Enumerable.Repeat((byte)'q', 270).ToArray();
        byte[] block = [0xF0, 0xFF, 0x00, .. literals];
        Assert.Equal(literals, Decompress(block));
    }

    [Theory]
    [InlineData(new byte[] { 0x10, (byte)'a', 0x00, 0x00, 0x00 })] // offset 0
    [InlineData(new byte[] { 0x10, (byte)'a', 0x02, 0x00, 0x00 })] // offset before the output start
    [InlineData(new byte[] { 0x50, (byte)'a', (byte)'b' })]        // literals past the end of input
    [InlineData(new byte[] { 0x10, (byte)'a', 0x01 })]             // offset cut off
    [InlineData(new byte[] { 0xF0, 0xFF })]                        // length extension cut off
    [InlineData(new byte[] { })]                                   // no token at all
    public void MalformedBlocksAreRejected(byte[] block)
    {
        Assert.Throws<InvalidDataException>(() => Decompress(block));
    }

    [Fact]
    public void OutputOverflowIsRejected()
    {
        byte[] block = [0x16, (byte)'x', 0x01, 0x00, 0x00];
        Assert.Throws<InvalidDataException>(() => Lz4Block.Decompress(block, new byte[5]));
    }
}
