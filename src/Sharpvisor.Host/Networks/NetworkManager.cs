using System.Collections.Concurrent;
using Sharpvisor.Host.Events;
using Sharpvisor.Host.Store;

namespace Sharpvisor.Host.Networks;

/// <summary>
/// The daemon's virtual networks: defined in the store, realised on the host as a bridge with the host's address, a
/// supervised dnsmasq and the nftables rules of <see cref="NetworkFirewall"/>. <see cref="RestoreAll"/> brings every
/// stored network up again when the daemon starts (what a killed daemon left is reused or repaired); a delete takes it
/// all down. Bridges stay when the daemon stops, as VMs go on running on them.
/// </summary>
public sealed class NetworkManager : IDisposable
{
    private readonly HostPaths _paths;
    private readonly IHostStore _store;
    private readonly HostEvents _events;
    private readonly ConcurrentDictionary<string, DnsmasqService> _dnsmasq = new();
    private readonly Lock _lock = new(); // one change of the host's networking at a time

    public NetworkManager(HostPaths paths, IHostStore store, HostEvents events)
    {
        _paths = paths;
        _store = store;
        _events = events;
    }

    public string NetworksDirectory => Path.Combine(_paths.StateDirectory, "networks");
    public string Directory(string network) => Path.Combine(NetworksDirectory, network);
    public string Bridge(string network) => NetworkInterfaceNames.Bridge(_paths, network);

    /// <summary>Why this host cannot realise networks (not root, a missing program and its package), or null.</summary>
    public static string? WhyUnavailable()
    {
        if (!Environment.IsPrivilegedProcess) return "networks need the daemon to run as root (bridges, taps, nftables)";
        var missing = new[] { ("ip", "iproute2"), ("nft", "nftables"), ("dnsmasq", DnsmasqService.Package) }
            .Where(t => Confinement.HostTools.Find(t.Item1) is null).ToList();
        return missing.Count == 0 ? null
            : $"networks need {string.Join(", ", missing.Select(m => m.Item1))} (apt-get install {string.Join(" ", missing.Select(m => m.Item2).Distinct())})";
    }

    public IReadOnlyList<NetworkDefinition> List() => _store.ListNetworks();

    public NetworkDefinition Get(string name) =>
        _store.FindNetwork(name) ?? throw HostException.NotFound($"no network named '{name}'");

    /// <summary>The VMs whose NICs name the network.</summary>
    public IReadOnlyList<string> UsedBy(string name) =>
        _store.ListInstances().Where(r => r.Definition.NetworkNics.Any(n => n.Network == name)).Select(r => r.Name).ToList();

    /// <summary>The pid of the network's dnsmasq, when it runs.</summary>
    public int? DnsmasqPid(string name) => _dnsmasq.TryGetValue(name, out var service) ? service.Pid : null;

    /// <summary>The addresses the network's dnsmasq has leased.</summary>
    public IReadOnlyList<DhcpLease> Leases(string name) => DhcpLease.ReadFile(Path.Combine(Directory(Get(name).Name), "leases"));

    /// <summary>Defines a network and brings it up; if it cannot be brought up, nothing of it is left.</summary>
    public NetworkDefinition Create(NetworkDefinition definition)
    {
        lock (_lock)
        {
            try { definition = definition.Validated(_store.ListNetworks()); }
            catch (NetworkDefinitionException e) { throw new HostException(400, e.Message, e.Field); }
            if (_store.FindNetwork(definition.Name) is not null) throw HostException.Conflict($"a network named '{definition.Name}' already exists");
            if (WhyUnavailable() is { } why) throw new HostException(422, $"network '{definition.Name}' cannot be made on this host: {why}");
            CheckHostAddresses(definition);
            try { _store.CreateNetwork(definition); }
            catch (StoreConflictException e) { throw HostException.Conflict(e.Message); }
            try
            {
                Realise(definition);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                _store.DeleteNetwork(definition.Name);
                TearDown(definition.Name);
                throw new HostException(500, $"network '{definition.Name}' could not be brought up: {e.Message}");
            }
            _events.Publish("network", "network-created", null, null, $"created network {definition.Name} ({definition.Subnet}{(definition.Nat ? ", NAT" : "")}) on bridge {Bridge(definition.Name)}");
            return definition;
        }
    }

    /// <summary>Removes a network no VM names: its dnsmasq, bridge, rules and folder go.</summary>
    public void Delete(string name)
    {
        lock (_lock)
        {
            Get(name);
            if (UsedBy(name) is { Count: > 0 } users)
                throw HostException.Conflict($"network '{name}' is used by {string.Join(", ", users.Select(u => $"'{u}'"))}; remove their NICs on it or delete them first");
            _store.DeleteNetwork(name);
            TearDown(name);
            _events.Publish("network", "network-deleted", null, null, $"deleted network {name}");
        }
    }

    /// <summary>
    /// Run as the daemon starts: brings every stored network up (a failure is reported as an event and the others go
    /// on), and takes down what a delete cut short left (a folder with no network in the store).
    /// </summary>
    public void RestoreAll()
    {
        lock (_lock)
        {
            var networks = _store.ListNetworks();
            if (networks.Count > 0 && WhyUnavailable() is { } why)
            {
                _events.Publish("network", "network-restore-failed", null, null, $"{networks.Count} network(s) not brought up: {why}");
                return;
            }
            foreach (var network in networks)
            {
                try { Realise(network); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    _events.Publish("network", "network-restore-failed", null, null, $"network {network.Name} could not be brought up: {e.Message}");
                }
            }
            if (System.IO.Directory.Exists(NetworksDirectory))
                foreach (var folder in System.IO.Directory.GetDirectories(NetworksDirectory))
                    if (networks.All(n => n.Name != Path.GetFileName(folder))) TearDown(Path.GetFileName(folder));
        }
    }

    private void Realise(NetworkDefinition network)
    {
        System.IO.Directory.CreateDirectory(Directory(network.Name));
        LinuxBridge.Ensure(Bridge(network.Name), network.ParsedSubnet);
        ApplyFirewall();
        if (_dnsmasq.TryRemove(network.Name, out var old)) old.Dispose();
        var service = new DnsmasqService(network, Bridge(network.Name), Directory(network.Name),
            message => _events.Publish("network", "network-dnsmasq-restarted", null, null, message));
        service.Start();
        _dnsmasq[network.Name] = service;
    }

    // Each step goes on when one fails, so a teardown after a half-made network removes whatever was made.
    private void TearDown(string name)
    {
        if (_dnsmasq.TryRemove(name, out var service)) service.Dispose();
        else DnsmasqService.EndLeftover(Directory(name));
        try { LinuxBridge.Remove(Bridge(name)); }
        catch (IOException e) { _events.Publish("network", "network-teardown-failed", null, null, $"bridge of network {name}: {e.Message}"); }
        try { ApplyFirewall(); }
        catch (IOException e) { _events.Publish("network", "network-teardown-failed", null, null, $"nftables rules after network {name}: {e.Message}"); }
        if (System.IO.Directory.Exists(Directory(name))) System.IO.Directory.Delete(Directory(name), recursive: true);
    }

    private void ApplyFirewall() =>
        NetworkFirewall.Apply(NetworkInterfaceNames.FirewallTable(_paths), _store.ListNetworks().Select(n => (n, Bridge(n.Name))).ToList());

    // The host must not already be on the subnet elsewhere (another daemon's network, the uplink): routes would clash.
    private void CheckHostAddresses(NetworkDefinition network)
    {
        var subnet = network.ParsedSubnet;
        string bridge = Bridge(network.Name);
        foreach (var (device, cidr) in LinuxBridge.Ipv4Addresses())
            if (device != bridge && Ipv4Subnet.TryParseInterfaceAddress(cidr, out var onHost) && onHost.Overlaps(subnet))
                throw HostException.Conflict($"subnet {subnet} overlaps {cidr}, an address of the host's interface {device}");
    }

    /// <summary>Ends the dnsmasq processes (the daemon is stopping); bridges and rules stay for the VMs that go on.</summary>
    public void Dispose()
    {
        foreach (var name in _dnsmasq.Keys.ToList())
            if (_dnsmasq.TryRemove(name, out var service)) service.Dispose();
    }
}
