using Sharpvisor.Host;
using Sharpvisor.Host.Networks;

namespace Sharpvisor.Api.Rest.Contracts;

/// <summary>The body of POST /1.0/networks.</summary>
public sealed record NetworkRequest(string? Name, string? Subnet, bool Nat = false, string? Description = null)
{
    public NetworkDefinition ToDefinition() => new()
    {
        Name = Name ?? throw HostException.BadRequest("name is missing", "name"),
        Subnet = Subnet ?? throw HostException.BadRequest("subnet is missing (CIDR like 10.20.0.0/24)", "subnet"),
        Nat = Nat, Description = Description ?? "",
    };
}

/// <summary>A network as GET /1.0/networks and /1.0/networks/{name} show it; the one-network view adds its leases.</summary>
public sealed record NetworkView(string Name, string Description, string Subnet, bool Nat, string Bridge, string HostAddress,
    string DhcpRange, IReadOnlyList<string> UsedBy, int? DnsmasqPid, IReadOnlyList<DhcpLease>? Leases)
{
    public static NetworkView From(NetworkDefinition d, NetworkManager networks, bool withLeases)
    {
        var subnet = d.ParsedSubnet;
        return new NetworkView(d.Name, d.Description, d.Subnet, d.Nat, networks.Bridge(d.Name), Ipv4Subnet.Format(subnet.HostAddress),
            $"{Ipv4Subnet.Format(subnet.FirstGuestAddress)}-{Ipv4Subnet.Format(subnet.LastGuestAddress)}", networks.UsedBy(d.Name),
            networks.DnsmasqPid(d.Name), withLeases ? networks.Leases(d.Name) : null);
    }
}
