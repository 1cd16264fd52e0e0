using System.IO.Compression;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

public class CpioNewcReaderTests
{
    private static byte[] Archive(Action<CpioNewcWriter> fill)
    {
        var stream = new MemoryStream();
        using (var writer = new CpioNewcWriter(stream, leaveOpen: true))
        {
            fill(writer);
            writer.Finish();
        }
        return stream.ToArray();
    }

    [Fact]
    public void ReadsWhatTheWriterWrote()
    {
        byte[] archive = Archive(w =>
        {
            w.AddFile("bin/busybox", [0x7F, (byte)'E', (byte)'L', (byte)'F', 9], CpioNewcWriter.ExecutableFileMode);
            w.AddSymlink("bin/sh", "/bin/busybox");
            w.AddFile("init", "#!/bin/sh\n"u8);
        });
        var entries = CpioNewcReader.Read(archive);

        Assert.Equal(["bin", "bin/busybox", "bin/sh", "init"], entries.Select(e => e.Name));
        Assert.True(entries[0].IsDirectory);
        Assert.True(entries[1].IsRegularFile);
        Assert.Equal([0x7F, (byte)'E', (byte)'L', (byte)'F', 9], entries[1].Data.ToArray());
        Assert.True(entries[2].IsSymbolicLink);
        Assert.Equal("/bin/busybox"u8.ToArray(), entries[2].Data.ToArray());
        Assert.Equal("#!/bin/sh\n"u8.ToArray(), entries[3].Data.ToArray());
    }

    [Fact]
    public void ContinuesIntoAConcatenatedArchive()
    {
        byte[] first = Archive(w => w.AddFile("a", "1"u8));
        byte[] second = Archive(w => w.AddFile("b", "22"u8));
        var entries = CpioNewcReader.Read((byte[])[.. first, 0, 0, 0, 0, .. second]);
        Assert.Equal(["a", "b"], entries.Select(e => e.Name));
    }

    [Fact]
    public void ReadsAGzippedArchive()
    {
        byte[] archive = Archive(w => w.AddFile("bin/busybox", "x"u8));
        var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(archive);
        var entries = CpioNewcReader.ReadGzipped(compressed.ToArray());
        Assert.Equal("x"u8.ToArray(), Assert.Single(entries, e => e.Name == "bin/busybox").Data.ToArray());
    }

    [Fact]
    public void RejectsBadMagicAndTruncation()
    {
        byte[] archive = Archive(w => w.AddFile("file", new byte[100]));
        Assert.Throws<InvalidDataException>(() => CpioNewcReader.Read(archive[..150]));
        archive[0] = (byte)'9';
        Assert.Throws<InvalidDataException>(() => CpioNewcReader.Read(archive));
    }
}
