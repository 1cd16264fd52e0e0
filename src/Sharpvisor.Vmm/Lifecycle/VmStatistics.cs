using System.Text;
using Sharpvisor.Machine.Devices.Virtio;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// What a VM's devices and vCPUs have done in its current boot, for metrics (the control socket's <c>stats</c>):
/// disk requests and bytes per disk, frames and bytes per NIC, and the vCPUs' port I/O and MMIO exits.
/// </summary>
public sealed record VmStatistics(long IoExits, IReadOnlyList<DiskStatistics> Disks, IReadOnlyList<NicStatistics> Nics)
{
    internal static VmStatistics Of(MachineInstance machine)
    {
        // Virtio models sit behind their PCI transport (a stateless model is not one of the transport's state parts).
        var devices = machine.Devices().Select(site => site.Device is VirtioPciDevice pci ? pci.Device : site.Device).Distinct().ToList();
        return new VmStatistics(machine.IoExits,
            devices.OfType<VirtioBlock>().Select(d => new DiskStatistics(d.Path, d.ReadRequests, d.BytesRead, d.WriteRequests, d.BytesWritten, d.FlushRequests)).ToArray(),
            devices.OfType<VirtioNet>().Select(n => new NicStatistics(n.FramesReceived, n.BytesReceived, n.FramesSent, n.BytesSent, n.ReceiveDropped + n.TransmitDropped)).ToArray());
    }

    /// <summary>key=value pairs, disks and NICs numbered in the order the guest sees them: <c>disk0-read-bytes=...</c>.</summary>
    public string Format()
    {
        var text = new StringBuilder($"io-exits={IoExits}");
        for (int i = 0; i < Disks.Count; i++)
        {
            var d = Disks[i];
            text.Append($" disk{i}-read-requests={d.ReadRequests} disk{i}-read-bytes={d.BytesRead} disk{i}-write-requests={d.WriteRequests}");
            text.Append($" disk{i}-write-bytes={d.BytesWritten} disk{i}-flush-requests={d.FlushRequests}");
        }
        for (int i = 0; i < Nics.Count; i++)
        {
            var n = Nics[i];
            text.Append($" net{i}-rx-frames={n.FramesReceived} net{i}-rx-bytes={n.BytesReceived} net{i}-tx-frames={n.FramesSent} net{i}-tx-bytes={n.BytesSent} net{i}-dropped={n.Dropped}");
        }
        return text.ToString();
    }
}

public sealed record DiskStatistics(string Path, long ReadRequests, long BytesRead, long WriteRequests, long BytesWritten, long FlushRequests);

public sealed record NicStatistics(long FramesReceived, long BytesReceived, long FramesSent, long BytesSent, long Dropped);
