using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Storage;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Networking;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// The virtio devices a configuration asks for, in the order they take PCI slots (which names them in the guest:
/// vda before vdb). A new virtio device is its model's file, its state record, its test and one line here.
/// </summary>
internal static class VirtioDeviceSet
{
    public static IEnumerable<(IVirtioDevice Model, string Name)> For(VmConfig config, NetworkBackends networks, Action<string> log,
        Throttling.IoThrottles? throttles = null)
    {
        if (config.EntropyDevice) yield return (new VirtioRng(), "virtio-rng");
        if (config.BalloonDevice) yield return (new VirtioBalloon(), "virtio-balloon");
        if (config.Vsock is { } vsock) yield return (new VirtioVsock(vsock.Cid, vsock.UdsPath, log), "virtio-vsock");
        for (int i = 0; i < config.Disks.Count; i++)
            yield return (new VirtioBlock(BlockBackendOpener.Open(config.Disks[i].Path, config.Disks[i].ReadOnly, config.Disks[i].Format), config.Disks[i].Path, $"sharpvisor-{DiskName(i)}", log)
                { RateLimiter = throttles?.ForDisk(i) }, $"virtio-blk {DiskName(i)}");
        foreach (var net in config.Networks)
        {
            var backend = networks.For(net, log);
            var (rx, tx) = throttles?.ForNetwork(net.Tap) ?? default;
            if (rx is not null || tx is not null) backend = new RateLimitedNetBackend(backend, rx, tx);
            yield return (new VirtioNet(backend, net.MacBytes(), log), $"virtio-net {net.Tap}");
        }
    }

    private static string DiskName(int index) => $"vd{(char)('a' + index)}";
}
