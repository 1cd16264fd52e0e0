using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sharpvisor.Machine.Storage;
using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Tests.Storage;

/// <summary>image convert against qemu-img: what it reads from the new image equals the source (compare), the new
/// qcow2 checks clean, zero clusters stay unallocated, and -c leaves compressed clusters qemu-img inflates.</summary>
public sealed class ImageConverterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-convert-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>A raw base, a qcow2 overlay with partial writes and zeroed clusters, and a top overlay written by qemu-io.</summary>
    private string MakeChain()
    {
        string baseImage = PathOf("base.raw"), middle = PathOf("middle.qcow2"), top = PathOf("top.qcow2");
        var bytes = new byte[3 << 20];
        var random = new Random(21);
        for (int i = 0; i < bytes.Length; i += 1 << 16)
            switch (random.Next(3))
            {
                case 0: random.NextBytes(bytes.AsSpan(i, 1 << 16)); break;
                case 1: bytes.AsSpan(i, 1 << 16).Fill((byte)(i >> 16)); break;      // compressible
            }
        File.WriteAllBytes(baseImage, bytes);
        Qcow2ImageCreator.Create(middle, (ulong)bytes.Length + 1000, backingFile: "base.raw", backingFormat: "raw");   // not cluster-aligned
        using (var disk = BlockBackendOpener.Open(middle, readOnly: false))
        {
            disk.Write(Enumerable.Repeat((byte)0x5a, 70_000).ToArray(), 100_001);
            disk.WriteZeroes(1 << 20, 128 << 10);
            disk.Write(new byte[] { 9, 8, 7 }, disk.VirtualSize - 3);     // the short last cluster
        }
        QemuImg.Ok("qemu-img", "create", "-f", "qcow2", "-b", "middle.qcow2", "-F", "qcow2", top);
        QemuImg.Ok("qemu-io", "-c", "write -P 0x11 2000000 300000", "-c", "write -z 0 65536", top);
        return top;
    }

    [SkippableTheory]
    [InlineData("raw", false)]
    [InlineData("qcow2", false)]
    [InlineData("qcow2", true)]
    public void A_converted_chain_reads_as_the_source_and_checks_clean(string format, bool compress)
    {
        QemuImg.Require();
        string source = MakeChain(), output = PathOf($"out.{format}");
        long written = ImageConverter.Convert(source, null, output, format, compress);

        QemuImg.Ok("qemu-img", "compare", "-f", "qcow2", "-F", format, source, output);
        using var result = BlockBackendOpener.Open(output, readOnly: true);
        using var original = BlockBackendOpener.Open(source, readOnly: true);
        Assert.Equal(original.VirtualSize, result.VirtualSize);
        Assert.Equal(format, result.Format);
        var info = JsonDocument.Parse(QemuImg.Ok("qemu-img", "info", "--output=json", output)).RootElement;
        Assert.False(info.TryGetProperty("backing-filename", out _));
        // Exactly the 64 KiB chunks that are not all zeros as qemu-img reads the source are written; zero ones take no space.
        var guest = QemuImg.ReadRaw(source, _dir);
        long nonZero = 0;
        for (int at = 0; at < guest.Length; at += ImageConverter.ChunkBytes)
            if (guest.AsSpan(at, Math.Min(ImageConverter.ChunkBytes, guest.Length - at)).IndexOfAnyExcept((byte)0) >= 0) nonZero++;
        Assert.Equal(nonZero, written);
        long allocated = info.GetProperty("actual-size").GetInt64();
        Assert.True(allocated < (nonZero + 8) * ImageConverter.ChunkBytes, $"{allocated} bytes allocated for {nonZero} chunks of data");
        if (format == "raw") return;
        QemuImg.Check(output);
        var (_, check) = QemuImg.Run("qemu-img", "check", output);
        var share = Regex.Match(check, @"([0-9.]+)% compressed clusters");
        double compressed = share.Success ? double.Parse(share.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        if (compress) Assert.True(compressed > 30, $"too few clusters compressed: {check}");
        else Assert.Equal(0, compressed);
    }

    [SkippableFact]
    public void Compressed_clusters_we_wrote_read_back_through_our_backend_and_take_overwrites_and_discards()
    {
        QemuImg.Require();
        string source = PathOf("source.raw"), output = PathOf("out.qcow2");
        var bytes = new byte[2 << 20];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(i % 251 < 40 ? i % 7 : 0x42);
        File.WriteAllBytes(source, bytes);
        ImageConverter.Convert(source, "raw", output, "qcow2", compress: true);
        Assert.True(new FileInfo(output).Length < bytes.Length / 4, $"{new FileInfo(output).Length} bytes: not compressed");
        using (var disk = BlockBackendOpener.Open(output, readOnly: false))
        {
            var back = new byte[bytes.Length];
            disk.Read(back, 0);
            Assert.Equal(bytes, back);
            disk.Write(new byte[] { 1, 2, 3 }, 70_000);     // copy-on-write out of a compressed cluster
            bytes[70_000] = 1; bytes[70_001] = 2; bytes[70_002] = 3;
            disk.Discard(1 << 20, 1 << 20);                 // frees compressed clusters sharing host clusters
            Array.Clear(bytes, 1 << 20, 1 << 20);
        }
        QemuImg.Check(output);
        Assert.Equal(bytes, QemuImg.ReadRaw(output, _dir));
    }

    [Fact]
    public void A_destination_in_the_source_chain_is_refused_and_left_alone()
    {
        string baseImage = PathOf("base.raw"), overlay = PathOf("overlay.qcow2");
        File.WriteAllBytes(baseImage, new byte[1 << 20]);
        Qcow2ImageCreator.Create(overlay, 1 << 20, backingFile: "base.raw", backingFormat: "raw");
        byte[] before = File.ReadAllBytes(baseImage);
        var error = Assert.Throws<ArgumentException>(() => ImageConverter.Convert(overlay, null, baseImage, "raw", compress: false));
        Assert.Contains("is an image the source reads", error.Message);
        Assert.Equal(before, File.ReadAllBytes(baseImage));
        Assert.Throws<ArgumentException>(() => ImageConverter.Convert(overlay, null, PathOf("x.raw"), "raw", compress: true));
        Assert.False(File.Exists(PathOf("x.raw")));
    }
}
