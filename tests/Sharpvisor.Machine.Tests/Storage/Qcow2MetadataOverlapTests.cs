using System.Buffers.Binary;
using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Tests.Storage;

/// <summary>
/// A hostile L1 or L2 entry pointing at the image's own metadata (header cluster, L1 table, refcount table, refcount
/// blocks, L2 tables) fails the guest's request by name and leaves the file as it was; opened read-only, a read through
/// it fails by name instead of handing the guest the image's tables as data.
/// </summary>
public sealed class Qcow2MetadataOverlapTests : IDisposable
{
    private const ulong Copied = 1UL << 63, Compressed = 1UL << 62, Cluster = 64 << 10;
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"sharpvisor-overlap-{Guid.NewGuid():N}.qcow2");

    public void Dispose() => File.Delete(_path);

    /// <summary>A 64 MiB v3 image with data in guest clusters 0 and 1; returns the file and where its metadata is.</summary>
    private (byte[] Bytes, ulong L1, ulong RefcountTable, ulong RefcountBlock, ulong L2) MakeImage()
    {
        Qcow2ImageCreator.Create(_path, 64 << 20);
        using (var disk = Qcow2BlockBackend.Open(_path, readOnly: false))
        {
            disk.Write(Enumerable.Repeat((byte)0x11, (int)Cluster).ToArray(), 0);
            disk.Write(Enumerable.Repeat((byte)0x22, (int)Cluster).ToArray(), Cluster);
        }
        var bytes = File.ReadAllBytes(_path);
        ulong l1 = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(40));
        ulong refcountTable = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(48));
        ulong refcountBlock = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan((int)refcountTable));
        ulong l2 = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan((int)l1)) & 0x00FF_FFFF_FFFF_FE00;
        return (bytes, l1, refcountTable, refcountBlock, l2);
    }

    private byte[] Patch(byte[] bytes, ulong at, ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan((int)at), value);
        File.WriteAllBytes(_path, bytes);
        return bytes;
    }

    /// <summary>The request fails by name and writes nothing (the open itself may give back the cluster the patch
    /// orphaned: a leak, counted but no longer referenced).</summary>
    private void AssertRefused(byte[] patched, string field, string named, Action<Qcow2BlockBackend> request)
    {
        byte[] before;
        using (var disk = Qcow2BlockBackend.Open(_path, readOnly: false))
        {
            before = File.ReadAllBytes(_path);
            var error = Assert.Throws<Qcow2FormatException>(() => request(disk));
            Assert.Equal(field, error.Field);
            Assert.Contains(named, error.Message);
        }
        Assert.Equal(before, File.ReadAllBytes(_path));
        Assert.True(before.Length == patched.Length, "the open changed the file's length");
        File.WriteAllBytes(_path, patched);          // as patched, for the next request
    }

    /// <summary>Opened read-only, a read through the hostile entry fails by name instead of returning metadata as data.</summary>
    private void AssertReadRefused(string field, string named, ulong guestOffset)
    {
        byte[] before = File.ReadAllBytes(_path);
        using (var disk = Qcow2BlockBackend.Open(_path, readOnly: true))
        {
            var error = Assert.Throws<Qcow2FormatException>(() => disk.Read(new byte[512], guestOffset));
            Assert.Equal(field, error.Field);
            Assert.Contains(named, error.Message);
            var other = new byte[512];
            disk.Read(other, 0);                      // guest cluster 0 is untouched
            Assert.All(other, b => Assert.Equal(0x11, b));
        }
        Assert.Equal(before, File.ReadAllBytes(_path));
    }

    private static void GuestWrite(Qcow2BlockBackend disk, ulong offset) => disk.Write(new byte[] { 0xEE, 0xEE, 0xEE }, offset + 100);

    [Theory]
    [InlineData("l1", "the L1 table")]
    [InlineData("refcount table", "the refcount table")]
    [InlineData("refcount block", "a refcount block")]
    [InlineData("l2", "an L2 table")]
    public void A_copied_L2_entry_pointing_at_metadata_fails_the_write_and_leaves_the_file_alone(string target, string named)
    {
        var (bytes, l1, refcountTable, refcountBlock, l2) = MakeImage();
        ulong host = target switch { "l1" => l1, "refcount table" => refcountTable, "refcount block" => refcountBlock, _ => l2 };
        bytes = Patch(bytes, l2 + 8, host | Copied);          // guest cluster 1
        AssertRefused(bytes, "L2 entry", $"the L2 entry for guest offset 0x{Cluster:x} points at {named}", disk => GuestWrite(disk, Cluster));
        AssertReadRefused("L2 entry", $"the L2 entry for guest offset 0x{Cluster:x} points at {named}", Cluster);
    }

    [Fact]
    public void A_shared_L2_entry_pointing_at_the_refcount_table_is_not_freed_by_copy_on_write()
    {
        var (bytes, _, refcountTable, _, l2) = MakeImage();
        bytes = Patch(bytes, l2 + 8, refcountTable);          // no COPIED flag: a write would allocate, then free it
        AssertRefused(bytes, "L2 entry", "points at the refcount table", disk => GuestWrite(disk, Cluster));
    }

    [Fact]
    public void Discarding_a_compressed_entry_that_covers_the_header_cluster_fails()
    {
        var (bytes, _, _, _, l2) = MakeImage();
        bytes = Patch(bytes, l2 + 8, Compressed | 0x200);      // one sector at 0x200: inside cluster 0
        AssertRefused(bytes, "L2 entry", "points at the header cluster", disk => disk.Discard(Cluster, Cluster));
        AssertRefused(bytes, "L2 entry", "points at the header cluster", disk => disk.WriteZeroes(Cluster, Cluster));
        AssertReadRefused("L2 entry", "points at the header cluster", Cluster);
    }

    [Theory]
    [InlineData("l1", "the L1 table")]
    [InlineData("refcount table", "the refcount table")]
    [InlineData("refcount block", "a refcount block")]
    public void An_L1_entry_pointing_at_metadata_fails_the_write_and_leaves_the_file_alone(string target, string named)
    {
        var (bytes, l1, refcountTable, refcountBlock, _) = MakeImage();
        ulong host = target switch { "l1" => l1, "refcount table" => refcountTable, _ => refcountBlock };
        bytes = Patch(bytes, l1, host | Copied);
        AssertRefused(bytes, "L1 entry", $"the L1 entry for guest offset 0x{Cluster:x} points at {named}", disk => GuestWrite(disk, Cluster));
        AssertRefused(bytes, "L1 entry", named, disk => disk.Discard(0, Cluster));
        using var readOnly = Qcow2BlockBackend.Open(_path, readOnly: true);
        var error = Assert.Throws<Qcow2FormatException>(() => readOnly.Read(new byte[512], Cluster));
        Assert.Equal("L1 entry", error.Field);
        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void A_zero_refcount_on_the_L1_table_does_not_hand_its_cluster_out()
    {
        var (bytes, l1, _, refcountBlock, _) = MakeImage();
        ulong l1Cluster = l1 / Cluster;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan((int)(refcountBlock + l1Cluster * 2)), 0);   // 16-bit refcounts
        File.WriteAllBytes(_path, bytes);
        var l1Before = bytes.AsSpan((int)l1, (int)Cluster).ToArray();
        using (var disk = Qcow2BlockBackend.Open(_path, readOnly: false))
        {
            disk.Write(Enumerable.Repeat((byte)0x33, (int)Cluster).ToArray(), 5 * Cluster);     // allocates a data cluster
            var back = new byte[Cluster];
            disk.Read(back, 5 * Cluster);
            Assert.All(back, b => Assert.Equal(0x33, b));
        }
        var after = File.ReadAllBytes(_path);
        ulong l2 = BinaryPrimitives.ReadUInt64BigEndian(after.AsSpan((int)l1)) & 0x00FF_FFFF_FFFF_FE00;
        ulong data = BinaryPrimitives.ReadUInt64BigEndian(after.AsSpan((int)(l2 + 5 * 8))) & 0x00FF_FFFF_FFFF_FE00;
        Assert.NotEqual(l1, data);
        Assert.Equal(l1Before.AsSpan(8).ToArray(), after.AsSpan((int)l1 + 8, (int)Cluster - 8).ToArray());
    }

    [SkippableFact]
    public void The_same_requests_on_an_untouched_image_succeed_and_qemu_img_checks_it_clean()
    {
        QemuImg.Require();
        MakeImage();
        using (var disk = Qcow2BlockBackend.Open(_path, readOnly: false))
        {
            GuestWrite(disk, Cluster);
            disk.Discard(0, Cluster);
            disk.WriteZeroes(2 * Cluster, Cluster);
        }
        QemuImg.Check(_path);
    }
}
