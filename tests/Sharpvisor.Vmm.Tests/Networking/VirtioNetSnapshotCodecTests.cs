using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Tests.Networking;

/// <summary>A snapshot carries virtio-net's own state (MAC, link) through the default registry, as JSON.</summary>
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
    public void The_default_registry_saves_and_restores_the_MAC_and_link_status()
    {
        using var saved = new VirtioNet(new NoNetwork(), [0x52, 0x54, 0x00, 0x01, 0x02, 0x03]);
        saved.SetLinkUp(false);
        var codec = DeviceStateRegistry.Default.For(saved);
        Assert.NotNull(codec);
        Assert.Equal("virtio-net", codec.Kind);
        var entry = codec.Save(saved, "pci/virtio-net tap0/virtio-net");
        Assert.Contains("52:54:00:01:02:03", entry.State.GetRawText());

        using var restored = new VirtioNet(new NoNetwork(), [0x52, 0x54, 0x00, 0x0A, 0x0B, 0x0C]);
        DeviceStateRegistry.Default.For("virtio-net")!.Restore(restored, entry);
        Assert.Equal("52:54:00:01:02:03", restored.MacAddress);
        Assert.False(restored.LinkUp);
    }
}
