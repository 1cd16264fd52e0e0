using System.IO.Compression;
using Sharpvisor.Coverage.Compression;

namespace Sharpvisor.Coverage.Tests.Compression;

public class GzipMemberTests
{
    internal static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(data);
        return output.ToArray();
    }

    [Fact]
    public void InflatesAndIgnoresTrailingBytes()
    {
        byte[] data = Enumerable.Range(0, 5000).Select(i => (byte)(i % 13)).ToArray();
        byte[] member = [.. Gzip(data), 0x88, 0x13, 0x00, 0x00];
        Assert.Equal(data, GzipMember.Decompress(member));
    }

    [Fact]
    public void SkipsAStoredFileName()
    {
        byte[] plain = Gzip("named"u8.ToArray());
        // Set FNAME and insert "x.txt\0" after the 10-byte header.
        byte[] named = [.. plain[..3], (byte)(plain[3] | 0x08), .. plain[4..10], .. "x.txt\0"u8, .. plain[10..]];
        Assert.Equal("named"u8.ToArray(), GzipMember.Decompress(named));
    }

    [Fact]
    public void RejectsNonGzip()
    {
        Assert.Throws<InvalidDataException>(() => GzipMember.Decompress(new byte[32]));
    }
}
