using System.Text.Json;
using Sharpvisor.Machine.Storage;
using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Tests.Storage;

/// <summary>Merging a backing file into its overlay (what deleting a snapshot's frozen disk needs), with qemu-img as
/// the oracle: the guest's view is unchanged, the image checks clean and names the next backing file, or none.</summary>
public sealed class Qcow2BackingMergeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-merge-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>base.raw &lt;- snap/frozen.qcow2 (qemu-io writes, a zeroed range) &lt;- top.qcow2 (our writes).</summary>
    private string MakeChain(int topVersion)
    {
        Directory.CreateDirectory(PathOf("snap"));
        var bytes = new byte[2 << 20];
        new Random(5).NextBytes(bytes);
        File.WriteAllBytes(PathOf("base.raw"), bytes);
        QemuImg.Ok("qemu-img", "create", "-f", "qcow2", "-b", "../base.raw", "-F", "raw", PathOf("snap/frozen.qcow2"));
        QemuImg.Ok("qemu-io", "-c", "write -P 0x33 100000 200000", "-c", "write -z 1048576 131072", PathOf("snap/frozen.qcow2"));
        Qcow2ImageCreator.Create(PathOf("top.qcow2"), 2 << 20, backingFile: "snap/frozen.qcow2", backingFormat: "qcow2", version: topVersion);
        using var top = BlockBackendOpener.Open(PathOf("top.qcow2"), readOnly: false);
        top.Write(Enumerable.Repeat((byte)0x77, 5000).ToArray(), 150_000);      // partly over the frozen image's data
        top.Write(Enumerable.Repeat((byte)0x78, 70_000).ToArray(), 1_900_000);
        return PathOf("top.qcow2");
    }

    [SkippableTheory]
    [InlineData(3)]
    [InlineData(2)]
    public void Merging_the_frozen_image_keeps_the_guest_view_and_names_its_backing_file_relative_to_the_top(int version)
    {
        QemuImg.Require();
        string top = MakeChain(version);
        var before = QemuImg.ReadRaw(top, _dir);
        long copied = Qcow2BackingMerge.Merge(top);
        Assert.True(copied > 0);

        File.Delete(PathOf("snap/frozen.qcow2"));      // no longer needed: the guest's view must not change
        Assert.Equal(before, QemuImg.ReadRaw(top, _dir));
        QemuImg.Check(top);
        var info = JsonDocument.Parse(QemuImg.Ok("qemu-img", "info", "--output=json", top)).RootElement;
        Assert.Equal("base.raw", info.GetProperty("backing-filename").GetString());
        Assert.Equal("raw", info.GetProperty("backing-filename-format").GetString());
        using var reopened = BlockBackendOpener.Open(top, readOnly: true);
        var ours = new byte[reopened.VirtualSize];
        reopened.Read(ours, 0);
        Assert.Equal(before, ours);
    }

    [SkippableFact]
    public void Merging_twice_leaves_a_self_contained_image()
    {
        QemuImg.Require();
        string top = MakeChain(3);
        var before = QemuImg.ReadRaw(top, _dir);
        Qcow2BackingMerge.Merge(top);
        Qcow2BackingMerge.Merge(top);         // now the raw base goes in
        File.Delete(PathOf("base.raw"));
        File.Delete(PathOf("snap/frozen.qcow2"));
        var info = JsonDocument.Parse(QemuImg.Ok("qemu-img", "info", "--output=json", top)).RootElement;
        Assert.False(info.TryGetProperty("backing-filename", out _));
        QemuImg.Check(top);
        Assert.Equal(before, QemuImg.ReadRaw(top, _dir));
        Assert.Equal(0, Qcow2BackingMerge.Merge(top));   // nothing below any more
    }
}
