using Sharpvisor.Machine.Storage;
using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Tests.Storage;

/// <summary>Our qcow2 backend against qemu-img: images we write pass its check and read the same through it, and back.</summary>
public sealed class Qcow2OracleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-qcow2-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static byte[] ReadAll(IBlockBackend disk)
    {
        var bytes = new byte[disk.VirtualSize];
        disk.Read(bytes, 0);
        return bytes;
    }

    /// <summary>Random data with runs of zeros, so converted images have unallocated and zero clusters too.</summary>
    private static byte[] RandomDisk(int length, int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[length];
        random.NextBytes(bytes);
        for (int i = 0; i < 8; i++) Array.Clear(bytes, random.Next(length - 200_000), random.Next(1, 200_000));
        return bytes;
    }

    [SkippableTheory]
    [InlineData(3, 16)]
    [InlineData(2, 16)]
    [InlineData(3, 9)]      // 512-byte clusters: many L2 tables and refcount blocks, the refcount table grows
    public void Random_writes_discards_and_a_reopen_leave_an_image_qemu_img_checks_clean_and_reads_the_same(int version, int clusterBits)
    {
        QemuImg.Require();
        string image = PathOf("disk.qcow2");
        const int Size = 6 << 20;
        Qcow2ImageCreator.Create(image, Size, version: version, clusterBits: clusterBits);
        var model = new byte[Size];
        var random = new Random(version * 100 + clusterBits);
        var data = new byte[300_000];
        for (int round = 0; round < 2; round++)
        {
            using var disk = BlockBackendOpener.Open(image, readOnly: false);
            Assert.Equal("qcow2", disk.Format);
            for (int i = 0; i < 150; i++)
            {
                int length = random.Next(1, i % 10 == 0 ? data.Length : 20_000);
                int offset = random.Next(Size - length);
                int kind = random.Next(10);
                if (kind < 7)
                {
                    random.NextBytes(data.AsSpan(0, length));
                    disk.Write(data.AsSpan(0, length), (ulong)offset);
                    data.AsSpan(0, length).CopyTo(model.AsSpan(offset));
                }
                else if (kind < 9)
                {
                    disk.WriteZeroes((ulong)offset, (ulong)length);
                    Array.Clear(model, offset, length);
                }
                else
                {
                    // Without a backing file a discarded cluster reads zeros; partial clusters keep their data.
                    disk.Discard((ulong)offset, (ulong)length);
                    ulong cluster = 1UL << clusterBits;
                    ulong first = ((ulong)offset + cluster - 1) & ~(cluster - 1), end = (ulong)(offset + length) & ~(cluster - 1);
                    if (end > first) Array.Clear(model, (int)first, (int)(end - first));
                }
                if (i % 50 == 0) disk.Flush();
            }
            Assert.Equal(model, ReadAll(disk));
        }
        QemuImg.Check(image);
        Assert.Equal(model, QemuImg.ReadRaw(image, _dir));
    }

    [SkippableTheory]
    [InlineData("compat=0.10")]
    [InlineData("compat=1.1")]
    public void An_image_qemu_img_filled_reads_back_byte_for_byte_and_takes_our_writes(string compat)
    {
        QemuImg.Require();
        string raw = PathOf("source.raw"), image = PathOf("disk.qcow2");
        var source = RandomDisk(5 << 20, 7);
        File.WriteAllBytes(raw, source);
        QemuImg.Ok("qemu-img", "create", "-f", "qcow2", "-o", compat, image, "5M");
        QemuImg.Ok("qemu-img", "convert", "-n", "-O", "qcow2", raw, image);
        using (var disk = BlockBackendOpener.Open(image, readOnly: true))
            Assert.Equal(source, ReadAll(disk));

        using (var disk = BlockBackendOpener.Open(image, readOnly: false))
        {
            var patch = new byte[70_000];
            new Random(3).NextBytes(patch);
            disk.Write(patch, 123_457);
            patch.CopyTo(source, 123_457);
            disk.WriteZeroes(1 << 20, 1 << 20);
            Array.Clear(source, 1 << 20, 1 << 20);
        }
        QemuImg.Check(image);
        Assert.Equal(source, QemuImg.ReadRaw(image, _dir));
    }

    [SkippableTheory]
    [InlineData("zlib", 0)]
    [InlineData("zstd", 1)]
    public void Compressed_clusters_written_by_qemu_img_read_back_and_can_be_overwritten(string compression, int type)
    {
        QemuImg.Require();
        string raw = PathOf("source.raw"), image = PathOf("compressed.qcow2");
        var source = RandomDisk(4 << 20, 11);
        for (int i = 0; i < source.Length; i += 4) source[i] = 0x55;      // compressible, so clusters stay compressed
        File.WriteAllBytes(raw, source);
        QemuImg.Ok("qemu-img", "convert", "-c", "-O", "qcow2", "-o", $"compression_type={compression}", raw, image);
        var (_, checkBefore) = QemuImg.Run("qemu-img", "check", image);
        var compressedShare = System.Text.RegularExpressions.Regex.Match(checkBefore, @"([0-9.]+)% compressed clusters");
        Assert.True(compressedShare.Success && double.Parse(compressedShare.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 50,
            $"qemu-img left too few clusters compressed: {checkBefore}");
        using (var disk = (Qcow2BlockBackend)BlockBackendOpener.Open(image, readOnly: true))
        {
            Assert.Equal(type, disk.Header.CompressionType);
            Assert.Equal(source, ReadAll(disk));
        }

        using (var disk = BlockBackendOpener.Open(image, readOnly: false))
        {
            var patch = new byte[5_000];
            new Random(5).NextBytes(patch);
            disk.Write(patch, 200_003);                                   // copy-on-write over a compressed cluster
            patch.CopyTo(source, 200_003);
            disk.Discard(1 << 20, 1 << 20);                               // frees compressed clusters
            Array.Clear(source, 1 << 20, 1 << 20);
        }
        QemuImg.Check(image);
        Assert.Equal(source, QemuImg.ReadRaw(image, _dir));
    }

    [SkippableFact]
    public void A_chain_raw_base_then_two_qcow2_overlays_reads_as_qemu_img_reads_it()
    {
        QemuImg.Require();
        string baseImage = PathOf("base.raw"), middle = PathOf("middle.qcow2"), top = PathOf("top.qcow2");
        File.WriteAllBytes(baseImage, RandomDisk(3 << 20, 13));
        QemuImg.Ok("qemu-img", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", middle);
        QemuImg.Ok("qemu-io", "-c", "write -P 0xab 65536 100000", "-c", "write -P 0xcd 2000000 7000", middle);
        Qcow2ImageCreator.Create(top, 3 << 20, backingFile: "middle.qcow2", backingFormat: "qcow2");
        using (var disk = BlockBackendOpener.Open(top, readOnly: false))
        {
            Assert.Equal(QemuImg.ReadRaw(top, _dir), ReadAll(disk));
            disk.Write(new byte[] { 1, 2, 3, 4, 5 }, 70_001);             // partial cluster: the rest comes from below
            disk.WriteZeroes(1 << 20, 65536);
        }
        QemuImg.Check(top);
        using var reopened = BlockBackendOpener.Open(top, readOnly: true);
        Assert.Equal(QemuImg.ReadRaw(top, _dir), ReadAll(reopened));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 0xab }, ReadAll(reopened).AsSpan(70_001, 6).ToArray());
    }

    [SkippableFact]
    public void Filling_a_small_cluster_image_grows_the_refcount_table_and_stays_clean()
    {
        QemuImg.Require();
        string image = PathOf("full.qcow2");
        const int Size = 12 << 20;     // 24,576 clusters of 512 bytes: more than the first table's 64 blocks count
        Qcow2ImageCreator.Create(image, Size, clusterBits: 9);
        var model = RandomDisk(Size, 17);
        using (var disk = BlockBackendOpener.Open(image, readOnly: false))
        {
            for (int at = 0; at < Size; at += 1 << 20) disk.Write(model.AsSpan(at, 1 << 20), (ulong)at);
            Assert.Equal(model, ReadAll(disk));
        }
        var (_, info) = QemuImg.Run("qemu-img", "info", "--output=json", image);
        QemuImg.Check(image);
        Assert.Equal(model, QemuImg.ReadRaw(image, _dir));
        using var reopened = (Qcow2BlockBackend)BlockBackendOpener.Open(image, readOnly: true);
        Assert.True(reopened.Header.RefcountTableClusters > 1, $"the refcount table did not grow: {info}");
    }
}
