using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// Finds a machine's devices for a snapshot: each device on the buses once, then the parts each names
/// (<see cref="IStatefulDevice.StateParts"/>), breadth first, so a part comes after its parent. A window stands for its
/// owner, taken after the rest so that an owner that is also a part (a virtio-pci BAR) keeps its key under its parent
/// whether or not the guest has mapped the BAR.
/// </summary>
public static class DeviceWalk
{
    public static IReadOnlyList<DeviceSite> On(PortIoBus ports, MmioBus mmio)
    {
        var found = ports.Mappings.Select(m => (m.Device, Where: $"{m.DeviceName} at port 0x{m.Base:x}"))
            .Concat(mmio.Mappings.Select(m => (m.Device, Where: $"{m.DeviceName} at 0x{m.Base:x}"))).ToList();
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var sites = new List<DeviceSite>();
        Walk(found.Where(f => f.Device is not IBusWindow).Select(f => ((object)f.Device, f.Where)), seen, sites);
        Walk(found.Where(f => f.Device is IBusWindow).Select(f => (((IBusWindow)f.Device).Owner, f.Where)), seen, sites);
        var twice = sites.GroupBy(s => s.Key).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
            throw new SnapshotException($"two devices have the state key {twice.Key}: {string.Join(" and ", twice.Select(s => s.Description))}");
        return sites;
    }

    private static void Walk(IEnumerable<(object Device, string Where)> roots, HashSet<object> seen, List<DeviceSite> sites)
    {
        var queue = new Queue<(string? Parent, object Device, string Where)>(roots.Select(r => ((string?)null, r.Device, r.Where)));
        while (queue.TryDequeue(out var next))
        {
            if (!seen.Add(next.Device)) continue;
            if (next.Device is not IStatefulDevice stateful)
            {
                sites.Add(new(next.Where, next.Device, next.Where)); // saving it fails, naming it
                continue;
            }
            string key = next.Parent is null ? stateful.StateKey : $"{next.Parent}/{stateful.StateKey}";
            sites.Add(new(key, next.Device, next.Where));
            foreach (var part in stateful.StateParts) queue.Enqueue((key, part, $"{part.GetType().Name} in {key}"));
        }
    }
}
