using System.Text.Json;
using Sharpvisor.Machine.Storage;
using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Tests.Storage;

/// <summary>Every refcount width qcow2 allows (1 to 64 bits), with qemu-img as the oracle: images it made with
/// refcount_bits=N read back and take our writes and discards; images we made check clean after the refcount table grew.</summary>
public sealed class Qcow2RefcountWidthTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-refcount-bits-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    public static TheoryData<int> Widths => [1, 2, 4, 8, 16, 32, 64];

    [SkippableTheory]
    [MemberData(nameof(Widths))]
    public void An_image_qemu_img_made_with_these_refcounts_reads_back_and_takes_our_writes_and_discards(int bits)
    {
        QemuImg.Require();
        string raw = PathOf("source.raw"), image = PathOf("disk.qcow2");
        var model = new byte[3 << 20];
        var random = new Random(bits);
        for (int i = 0; i < model.Length; i += 4096) if (random.Next(3) > 0) random.NextBytes(model.AsSpan(i, 4096));
        File.WriteAllBytes(raw, model);
        QemuImg.Ok("qemu-img", "create", "-f", "qcow2", "-o", $"refcount_bits={bits},cluster_size=4096", image, "3M");
        QemuImg.Ok("qemu-img", "convert", "-n", "-O", "qcow2", raw, image);
        using (var disk = (Qcow2BlockBackend)BlockBackendOpener.Open(image, readOnly: false))
        {
            Assert.Equal(System.Numerics.BitOperations.Log2((uint)bits), disk.Header.RefcountOrder);
            Assert.Equal(0, disk.LeakedClustersReclaimed);
            var back = new byte[model.Length];
            disk.Read(back, 0);
            Assert.Equal(model, back);
            for (int i = 0; i < 60; i++)
            {
                int length = random.Next(1, 40_000), offset = random.Next(model.Length - length);
                if (i % 4 == 3)
                {
                    disk.Discard((ulong)offset, (ulong)length);
                    int first = (offset + 4095) & ~4095, end = (offset + length) & ~4095;
                    if (end > first) Array.Clear(model, first, end - first);
                }
                else
                {
                    random.NextBytes(model.AsSpan(offset, length));
                    disk.Write(model.AsSpan(offset, length), (ulong)offset);
                }
            }
        }
        QemuImg.Check(image);
        Assert.Equal(model, QemuImg.ReadRaw(image, _dir));
    }

    [SkippableTheory]
    [MemberData(nameof(Widths))]
    public void An_image_we_made_with_these_refcounts_grows_its_refcount_table_and_checks_clean(int bits)
    {
        QemuImg.Require();
        string image = PathOf("ours.qcow2");
        int order = System.Numerics.BitOperations.Log2((uint)bits);
        const int Size = 4 << 20;         // 8,192 clusters of 512 bytes: many refcount blocks at any width
        Qcow2ImageCreator.Create(image, Size, clusterBits: 9, refcountOrder: order);
        var info = JsonDocument.Parse(QemuImg.Ok("qemu-img", "info", "--output=json", image)).RootElement;
        Assert.Equal(bits, info.GetProperty("format-specific").GetProperty("data").GetProperty("refcount-bits").GetInt32());
        var model = new byte[Size];
        new Random(bits).NextBytes(model);
        using (var disk = BlockBackendOpener.Open(image, readOnly: false))
        {
            for (int at = 0; at < Size; at += 256 << 10) disk.Write(model.AsSpan(at, 256 << 10), (ulong)at);
            disk.Discard(1 << 20, 64 << 10);
            Array.Clear(model, 1 << 20, 64 << 10);
        }
        QemuImg.Check(image);
        Assert.Equal(model, QemuImg.ReadRaw(image, _dir));
        using var reopened = (Qcow2BlockBackend)BlockBackendOpener.Open(image, readOnly: true);
        Assert.Equal(order, reopened.Header.RefcountOrder);
    }
}
