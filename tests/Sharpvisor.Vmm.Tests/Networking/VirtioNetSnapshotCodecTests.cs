using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Tests.Networking;

/// <summary>A snapshot carries virtio-net's own state (MAC, link) through the default codecs, as JSON.</summary>
public sealed class VirtioNetSnapshotCodecTests
{
    private sealed class NoNetwork : IVirtioNetBackend
    {
        public string Name => "none";
        public void Start(IVirtioNetReceiver receiver) { }
        public void Stop() { }
        public void Send(ReadOnlySpan<byte> frame) { }
        public void Dispose() { }
    }

    [Fact]
    public void The_default_codecs_save_and_restore_the_MAC_and_link_status()
    {
        using var saved = new VirtioNet(new NoNetwork(), [0x52, 0x54, 0x00, 0x01, 0x02, 0x03]);
        saved.SetLinkUp(false);
        var codec = DeviceStateCodecs.Default.For(saved);
        Assert.NotNull(codec);
        Assert.Equal("virtio-net", codec.Kind);
        var json = codec.Save(saved);
        Assert.Contains("52:54:00:01:02:03", json.GetRawText());

        using var restored = new VirtioNet(new NoNetwork(), [0x52, 0x54, 0x00, 0x0A, 0x0B, 0x0C]);
        DeviceStateCodecs.Default.For("virtio-net")!.Restore(restored, json);
        Assert.Equal("52:54:00:01:02:03", restored.MacAddress);
        Assert.False(restored.LinkUp);
    }
}
