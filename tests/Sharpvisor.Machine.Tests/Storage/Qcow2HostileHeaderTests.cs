using System.Buffers.Binary;
using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Tests.Storage;

/// <summary>A damaged or hostile header is refused with an error naming the field, before anything else is read.</summary>
public sealed class Qcow2HostileHeaderTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"sharpvisor-hostile-{Guid.NewGuid():N}.qcow2");

    public void Dispose() => File.Delete(_path);

    [Theory]
    [InlineData("magic", 0, 4, 0x12345678UL)]
    [InlineData("version", 4, 4, 4UL)]
    [InlineData("cluster_bits", 20, 4, 8UL)]
    [InlineData("cluster_bits", 20, 4, 30UL)]
    [InlineData("l1_size", 36, 4, 0xFFFF_FFFFUL)]                   // far more than the limit
    [InlineData("l1_size", 36, 4, 0UL)]                              // too few for the virtual size
    [InlineData("l1_table_offset", 40, 8, 0x30200UL)]               // not cluster-aligned
    [InlineData("l1_table_offset", 40, 8, 1UL << 40)]                // beyond the file
    [InlineData("refcount_table_offset", 48, 8, 1UL << 40)]          // beyond the file
    [InlineData("refcount_table_offset", 48, 8, 0x10008UL)]
    [InlineData("refcount_table_clusters", 56, 4, 0x100000UL)]
    [InlineData("size", 24, 8, ulong.MaxValue)]
    [InlineData("crypt_method", 32, 4, 1UL)]
    [InlineData("incompatible_features", 72, 8, 1UL << 40)]
    [InlineData("refcount_order", 96, 4, 7UL)]
    [InlineData("header_length", 100, 4, 0x7FFF_FFFFUL)]
    [InlineData("backing_file_offset", 8, 8, 0xFFF0UL)]
    public void A_bad_field_is_refused_by_name(string field, int offset, int width, ulong value)
    {
        Qcow2ImageCreator.Create(_path, 64 << 20);
        var bytes = File.ReadAllBytes(_path);
        if (width == 4) BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(offset), (uint)value);
        else BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(offset), value);
        if (field == "backing_file_offset") BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(16), 100);
        File.WriteAllBytes(_path, bytes);

        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockBackend.Open(_path, readOnly: true));
        Assert.Equal(field, error.Field);
        Assert.Contains(field, error.Message);
    }

    [Fact]
    public void An_L2_entry_pointing_outside_the_file_fails_the_read_not_the_process()
    {
        Qcow2ImageCreator.Create(_path, 64 << 20);
        using (var disk = Qcow2BlockBackend.Open(_path, readOnly: false)) disk.Write(new byte[512], 0);
        var bytes = File.ReadAllBytes(_path);
        ulong l1 = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(40));
        ulong l2 = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan((int)l1)) & 0x00FF_FFFF_FFFF_FE00;
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan((int)l2), (1UL << 63) | (1UL << 45));
        File.WriteAllBytes(_path, bytes);

        using var opened = Qcow2BlockBackend.Open(_path, readOnly: true);
        var error = Assert.Throws<Qcow2FormatException>(() => opened.Read(new byte[512], 0));
        Assert.Equal("L2 entry", error.Field);
        Assert.IsAssignableFrom<IOException>(error);
    }

    [SkippableTheory]
    [InlineData("zlib")]
    [InlineData("zstd")]
    public void A_garbled_compressed_cluster_fails_the_read_by_name(string compression)
    {
        QemuImg.Require();
        string raw = _path + ".raw";
        try
        {
            var source = new byte[1 << 20];
            new Random(1).NextBytes(source);
            for (int i = 0; i < source.Length; i += 4) source[i] = 0x55;      // compressible
            File.WriteAllBytes(raw, source);
            QemuImg.Ok("qemu-img", "convert", "-c", "-O", "qcow2", "-o", $"compression_type={compression}", raw, _path);
        }
        finally
        {
            File.Delete(raw);
        }
        var bytes = File.ReadAllBytes(_path);
        int clusterBits = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(20));
        ulong l1 = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(40));
        ulong l2 = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan((int)l1)) & 0x00FF_FFFF_FFFF_FE00;
        ulong entry = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan((int)l2));
        Assert.True((entry & (1UL << 62)) != 0, "guest cluster 0 is not compressed");
        ulong data = entry & ((1UL << (62 - (clusterBits - 8))) - 1);
        bytes.AsSpan((int)data, 64).Fill(0xA5);
        File.WriteAllBytes(_path, bytes);

        using var opened = Qcow2BlockBackend.Open(_path, readOnly: true);
        var error = Assert.Throws<Qcow2FormatException>(() => opened.Read(new byte[512], 0));
        Assert.Equal("compressed cluster", error.Field);
    }
}
