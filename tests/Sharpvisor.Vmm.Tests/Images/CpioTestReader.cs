using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Sharpvisor.Vmm.Tests.Images;

/// <summary>One entry of a newc archive as the tests read it back.</summary>
internal sealed record CpioTestEntry(string Name, uint Mode, uint RdevMajor, uint RdevMinor, byte[] Data, long HeaderOffset)
{
    public uint Type => Mode & 0xF000;
    public uint Permissions => Mode & 0xFFF;
    public bool IsDirectory => Type == 0x4000;
    public bool IsRegularFile => Type == 0x8000;
    public bool IsSymlink => Type == 0xA000;
    public string Text => Encoding.UTF8.GetString(Data);
}

/// <summary>A strict newc reader for checking archives in tests: it rejects bad magic and misalignment.</summary>
internal static class CpioTestReader
{
    public static List<CpioTestEntry> ReadGzipFile(string path)
    {
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        return Read(buffer.ToArray());
    }

    public static List<CpioTestEntry> Read(byte[] archive)
    {
        var entries = new List<CpioTestEntry>();
        int offset = 0;
        while (true)
        {
            Assert.True(offset % 4 == 0, $"header at {offset} is not 4-byte aligned");
            Assert.True(offset + 110 <= archive.Length, "archive ends without TRAILER!!!");
            string header = Encoding.ASCII.GetString(archive, offset, 110);
            Assert.Equal("070701", header[..6]);
            uint Field(int index) => uint.Parse(header.AsSpan(6 + index * 8, 8), NumberStyles.HexNumber);
            uint mode = Field(1), fileSize = Field(6), rdevMajor = Field(9), rdevMinor = Field(10), nameSize = Field(11);
            string name = Encoding.UTF8.GetString(archive, offset + 110, (int)nameSize - 1);
            Assert.Equal(0, archive[offset + 110 + nameSize - 1]);
            int data = Align(offset + 110 + (int)nameSize);
            if (name == "TRAILER!!!")
            {
                Assert.Equal(0u, fileSize);
                return entries;
            }
            entries.Add(new CpioTestEntry(name, mode, rdevMajor, rdevMinor, archive[data..(data + (int)fileSize)], offset));
            offset = Align(data + (int)fileSize);
        }
    }

    private static int Align(int value) => (value + 3) & ~3;
}
