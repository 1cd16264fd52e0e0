using Sharpvisor.Machine.Storage;

namespace Sharpvisor.Machine.Tests.Storage;

/// <summary>
/// A raw disk whose format was probed must not be turned into a qcow2 image by its guest: the next open would follow
/// a backing file the guest named. Named raw, the same write goes through.
/// </summary>
public sealed class RawProbeGuardTests : IDisposable
{
    private static readonly byte[] Qcow2Magic = [(byte)'Q', (byte)'F', (byte)'I', 0xFB];
    private readonly string _path = Path.GetTempFileName();

    public RawProbeGuardTests() => File.WriteAllBytes(_path, new byte[64 * 1024]);

    public void Dispose() => File.Delete(_path);

    [Theory]
    [InlineData(0, new byte[] { (byte)'Q', (byte)'F', (byte)'I', 0xFB, 0, 0, 0, 3 })] // a whole qcow2 header start
    [InlineData(2, new byte[] { (byte)'I', 0xFB })]                                 // the second half, after "QF" is there
    public void A_probed_raw_disk_refuses_a_write_that_would_make_it_qcow2(int offset, byte[] data)
    {
        if (offset > 0)
            using (var first = BlockBackendOpener.Open(_path, readOnly: false)) first.Write(Qcow2Magic.AsSpan(0, offset), 0);
        using (var disk = BlockBackendOpener.Open(_path, readOnly: false))
        {
            Assert.Equal("raw", disk.Format);
            var e = Assert.Throws<IOException>(() => disk.Write(data, (ulong)offset));
            Assert.Contains("qcow2 magic is refused", e.Message);
        }
        Assert.Equal("raw", BlockBackendOpener.Probe(_path));
    }

    [Fact]
    public void Other_writes_at_the_start_and_writes_to_a_disk_named_raw_go_through()
    {
        using (var probed = BlockBackendOpener.Open(_path, readOnly: false))
        {
            probed.Write("QFI!"u8, 0);      // not the magic
            probed.Write(Qcow2Magic, 4);    // the magic elsewhere is just data
        }
        Assert.Equal("QFI!"u8.ToArray(), File.ReadAllBytes(_path)[..4]);
        using (var named = BlockBackendOpener.Open(_path, readOnly: false, format: "raw")) named.Write(Qcow2Magic, 0);
        Assert.Equal(Qcow2Magic, File.ReadAllBytes(_path)[..4]);
        Assert.Equal("qcow2", BlockBackendOpener.Probe(_path));
    }
}
