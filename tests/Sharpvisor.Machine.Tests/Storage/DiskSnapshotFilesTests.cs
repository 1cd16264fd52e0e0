using System.Security.Cryptography;
using Sharpvisor.Machine.Storage;
using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Tests.Storage;

/// <summary>A disk through a snapshot's life at the file level, qemu-img as the oracle: frozen (the VM writes on into an
/// overlay, the frozen image does not change), reverted (the disk reads as frozen again), deleted (merged, self-contained).</summary>
public sealed class DiskSnapshotFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-disk-snapshot-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SkippableTheory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    public void Freeze_write_revert_and_merge_keep_each_view_as_qemu_img_reads_it(string format)
    {
        QemuImg.Require();
        string disk = Path.Combine(_dir, "disk.img"), snapshot = Path.Combine(_dir, "snapshot");
        Directory.CreateDirectory(snapshot);
        string frozen = Path.Combine(snapshot, $"disk-0.{format}");
        var original = new byte[1 << 20];
        new Random(1).NextBytes(original);
        if (format == "raw") File.WriteAllBytes(disk, original);
        else
        {
            Qcow2ImageCreator.Create(disk, (ulong)original.Length);
            using var image = BlockBackendOpener.Open(disk, readOnly: false, "qcow2");
            image.Write(original, 0);
        }

        DiskSnapshotFiles.Freeze(disk, format, frozen);
        Assert.Equal("qcow2", BlockBackendOpener.Probe(disk));
        Assert.Contains($"backing file: snapshot/disk-0.{format}", QemuImg.Ok("qemu-img", "info", disk));
        Assert.Equal(original, QemuImg.ReadRaw(disk, _dir));
        string frozenHash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(frozen)));

        using (var live = BlockBackendOpener.Open(disk, readOnly: false))
            live.Write(Enumerable.Repeat((byte)0xEE, 200_000).ToArray(), 300_000);          // the VM writes on
        Assert.Equal(frozenHash, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(frozen))));
        Assert.NotEqual(original, QemuImg.ReadRaw(disk, _dir));

        DiskSnapshotFiles.Revert(frozen, format, disk);                                       // restore
        Assert.Equal(original, QemuImg.ReadRaw(disk, _dir));
        QemuImg.Check(disk);

        using (var live = BlockBackendOpener.Open(disk, readOnly: false))
            live.Write(new byte[] { 1, 2, 3 }, 5);
        original[5] = 1; original[6] = 2; original[7] = 3;
        Qcow2BackingMerge.Merge(disk);                                                         // delete the snapshot
        File.Delete(frozen);
        QemuImg.Check(disk);
        Assert.Equal(original, QemuImg.ReadRaw(disk, _dir));
    }

    [Fact]
    public void Freezing_onto_an_existing_file_is_refused_and_the_disk_stays()
    {
        string disk = Path.Combine(_dir, "disk.raw"), frozen = Path.Combine(_dir, "taken.raw");
        File.WriteAllBytes(disk, new byte[65536]);
        File.WriteAllText(frozen, "keep");
        Assert.Throws<IOException>(() => DiskSnapshotFiles.Freeze(disk, "raw", frozen));
        Assert.Equal(65536, new FileInfo(disk).Length);
        Assert.Equal("keep", File.ReadAllText(frozen));
    }
}
