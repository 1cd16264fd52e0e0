using System.Security.Cryptography;
using Sharpvisor.Machine.Storage;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;
using Sharpvisor.Vmm.Tests.Lifecycle;

namespace Sharpvisor.Vmm.Tests.Snapshots;

/// <summary>
/// Disks frozen with the memory, on the counter guest (its disk idle, the test writes the images itself between the
/// steps): the VM moves onto overlays and its frozen images stop changing; a restore whose frozen image is missing or
/// damaged stops with every file as it was; deleting a snapshot merges its layer into the images above; qemu-img
/// checks every qcow2 file made on the way.
/// </summary>
public sealed class DiskSnapshotTests : IDisposable
{
    private readonly string _vm = Directory.CreateTempSubdirectory("sharpvisor-disk-snapshot-").FullName;

    public void Dispose() => Directory.Delete(_vm, recursive: true);

    private string Disk => Path.Combine(_vm, "disk.raw");
    private string Layers => Path.Combine(_vm, SnapshotDiskLayers.FolderName);

    /// <summary>Two snapshots of a running VM, s1 and s2, with a write to the disk's image before each and after.</summary>
    private (string Top, byte[] AtS1, byte[] AtS2) TwoSnapshots()
    {
        QemuImg.Require();
        using (var file = File.Create(Disk)) file.SetLength(4 << 20);
        Write(Disk, "raw", 0x11);
        using var run = new CounterRun(TestEngines.Create("emulator"), configure: c => c with { Disks = [new DiskSpec(Disk, Format: "raw")] });
        run.WaitForTick(2);
        run.Vm.SaveSnapshot(Path.Combine(_vm, "s1"));
        var top = run.Vm.Config.Disks[0];
        Assert.Equal(("qcow2", Layers), (top.Format, Path.GetDirectoryName(top.Path)));
        byte[] atS1 = QemuImg.ReadRaw(Disk, _vm);
        run.Vm.Stop("write between the snapshots");
        run.Finish(TimeSpan.FromSeconds(30));
        Write(top.Path, "qcow2", 0x22);
        byte[] atS2 = QemuImg.ReadRaw(top.Path, _vm);

        var restored = SnapshotStore.Load(Path.Combine(_vm, "s1"));
        using var again = new CounterRun(TestEngines.Create("emulator"), restore: restored);
        again.WaitForTick(CounterRun.Ticks(run.Console.Output).Last() + 1);
        Assert.Equal(atS1, QemuImg.ReadRaw(top.Path, _vm));          // the restore put the disk back as it was at s1
        again.Vm.Stop("write again");
        again.Finish(TimeSpan.FromSeconds(30));
        Write(top.Path, "qcow2", 0x22);
        Assert.Equal(atS2, QemuImg.ReadRaw(top.Path, _vm));
        using var third = new CounterRun(TestEngines.Create("emulator"), configure: c => c with { Disks = [top] });
        third.WaitForTick(1);
        third.Vm.SaveSnapshot(Path.Combine(_vm, "s2"), stopAfter: true);
        third.Finish(TimeSpan.FromSeconds(30));
        Write(top.Path, "qcow2", 0x33);
        return (top.Path, atS1, atS2);
    }

    [SkippableFact]
    public void Each_snapshot_keeps_its_disk_and_a_restore_brings_it_back_while_every_image_checks_clean()
    {
        var (top, atS1, atS2) = TwoSnapshots();
        Assert.Equal(atS1, QemuImg.ReadRaw(Disk, _vm));                 // the user's disk, frozen at s1, never written since
        var s2 = SnapshotStore.Load(Path.Combine(_vm, "s2"));
        string frozenAtS2 = Assert.Single(s2.Manifest.Config.Disks).Path;
        Assert.Equal(atS2, QemuImg.ReadRaw(frozenAtS2, _vm));
        Assert.NotEqual(atS2, QemuImg.ReadRaw(top, _vm));

        Assert.Equal(atS2, QemuImg.ReadRaw(SnapshotDiskLayers.Revert(s2, s2.Manifest.Config).Disks[0].Path, _vm));
        foreach (string image in Directory.EnumerateFiles(Layers)) QemuImg.Check(image);
    }

    [SkippableTheory]
    [InlineData("missing")]
    [InlineData("damaged")]
    public void A_restore_whose_frozen_image_is_missing_or_damaged_fails_clearly_and_changes_no_file(string how)
    {
        var (top, _, _) = TwoSnapshots();
        var s2 = SnapshotStore.Load(Path.Combine(_vm, "s2"));
        string frozen = s2.Manifest.Config.Disks[0].Path;
        if (how == "missing") File.Delete(frozen);
        else
            using (var file = File.OpenWrite(frozen)) file.Write("QFI\0"u8);   // the magic's last byte lost
        string topBefore = Hash(top);

        using var run = new CounterRun(TestEngines.Create("emulator"), restore: s2);
        var result = run.Finish(TimeSpan.FromSeconds(30));
        Assert.Equal(VmOutcome.VmmError, result.Outcome);
        Assert.Contains($"disk 0's frozen image {frozen} cannot be read", result.Message);
        Assert.Contains("no disk was changed", result.Message);
        Assert.Equal(topBefore, Hash(top));
    }

    [SkippableFact]
    public void Deleting_a_snapshot_merges_its_layer_into_the_disk_above_and_the_other_snapshot_still_restores()
    {
        var (top, atS1, _) = TwoSnapshots();
        byte[] now = QemuImg.ReadRaw(top, _vm);
        var s2 = SnapshotStore.Load(Path.Combine(_vm, "s2"));
        var merged = new List<string>();
        Assert.Equal(1, SnapshotDiskLayers.Release(s2.Manifest, image => { merged.Add(image); Machine.Storage.Qcow2.Qcow2BackingMerge.Merge(image); }));
        Assert.Equal([top], merged);
        Assert.False(File.Exists(s2.Manifest.Config.Disks[0].Path));
        Assert.Equal(Disk, SnapshotDiskLayers.BackingOf(top));
        Assert.Equal(now, QemuImg.ReadRaw(top, _vm));
        foreach (string image in Directory.EnumerateFiles(Layers)) QemuImg.Check(image);

        var s1 = SnapshotStore.Load(Path.Combine(_vm, "s1"));
        Assert.Equal(0, SnapshotDiskLayers.Release(s1.Manifest, _ => throw new InvalidOperationException("the user's disk is the base: nothing to merge")));
        Assert.Equal(atS1, QemuImg.ReadRaw(SnapshotDiskLayers.Revert(s1, s1.Manifest.Config).Disks[0].Path, _vm));
    }

    [Fact]
    public void A_snapshot_of_an_older_format_is_refused_by_number()
    {
        string folder = Path.Combine(_vm, "old");
        Directory.CreateDirectory(folder);
        byte[] file = SnapshotStore.Encode(new SnapshotManifest
        {
            Config = new VmConfig { KernelPath = "/k" }, Vcpus = [], Devices = [], Memory = new MemoryImage { FileName = "m", Regions = [], Sha256 = "" },
        });
        file[8] = 2;
        File.WriteAllBytes(Path.Combine(folder, SnapshotFormat.StateFileName), file);
        var e = Assert.Throws<SnapshotException>(() => SnapshotStore.Load(folder));
        Assert.Contains("is snapshot format version 2; this build reads version 3", e.Message);
    }

    private static void Write(string image, string format, byte value)
    {
        using var disk = BlockBackendOpener.Open(image, readOnly: false, format);
        disk.Write(Enumerable.Repeat(value, 70_000).ToArray(), (ulong)value * 10_000);
        disk.Flush();
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
