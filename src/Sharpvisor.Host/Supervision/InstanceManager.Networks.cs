using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Networks;

namespace Sharpvisor.Host.Supervision;

public sealed partial class InstanceManager
{
    /// <summary>
    /// Gives each NIC on a daemon network that has none a MAC address (52:54:00, then three random bytes unused by the
    /// daemon's VMs), and checks that its network exists and that no other VM has its MAC.
    /// </summary>
    private InstanceDefinition PrepareNetworkNics(InstanceDefinition definition, string? except)
    {
        if (definition.NetworkNics.Count == 0) return definition;
        var others = _store.ListInstances().Where(r => r.Name != except).ToList();
        var taken = others.SelectMany(r => r.Definition.NetworkNics.Select(n => n.Mac).Concat(r.Definition.Networks.Select(n => n.MacAddress)))
            .Concat(definition.Networks.Select(n => n.MacAddress)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var nics = new List<NetworkNic>();
        for (int i = 0; i < definition.NetworkNics.Count; i++)
        {
            var nic = definition.NetworkNics[i];
            string field = $"nics[{definition.Networks.Count + i}]";
            if (InstanceDefinition.NameProblem(nic.Network) is null && _store.FindNetwork(nic.Network) is null)
                throw HostException.BadRequest($"network '{nic.Network}' does not exist (sharpvisor network list)", field);
            if (string.IsNullOrEmpty(nic.Mac))
            {
                string mac;
                do mac = NetworkNic.RandomMac(); while (taken.Contains(mac));
                nic = nic with { Mac = mac };
            }
            else if (others.FirstOrDefault(r => r.Definition.NetworkNics.Any(n => string.Equals(n.Mac, nic.Mac, StringComparison.OrdinalIgnoreCase))) is { } owner)
                throw HostException.Conflict($"MAC address {nic.Mac} is already given to instance '{owner.Name}'");
            taken.Add(nic.Mac);
            nics.Add(nic);
        }
        return definition with { NetworkNics = nics };
    }

    /// <summary>The taps of the VM's NICs on daemon networks, each with the bridge it joins.</summary>
    internal static IReadOnlyList<(string Tap, string Bridge)> NetworkTaps(HostPaths paths, InstanceDefinition definition) =>
        definition.NetworkNics.Select((nic, i) => (NetworkInterfaceNames.Tap(paths, definition.Name, i), NetworkInterfaceNames.Bridge(paths, nic.Network))).ToList();

    // The daemon's taps are persistent (the VMM's user opens them); they go with the VM.
    private void RemoveNetworkTaps(InstanceDefinition definition)
    {
        foreach (var (tap, _) in NetworkTaps(_options.Paths, definition))
        {
            try { if (LinuxBridge.Exists(tap)) HostCommand.Run("ip", "link", "del", tap); }
            catch (IOException e) { Events.Publish("network", "tap-delete-failed", definition.Name, null, e.Message); }
        }
    }
}
