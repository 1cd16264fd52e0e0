using System.Text;

namespace Sharpvisor.Host.Networks;

/// <summary>
/// The nftables rules of a daemon's networks, one table rewritten whole (atomically, by `nft -f`) whenever a network
/// comes or goes. Isolation: nothing is forwarded between two of the networks, a VM cannot reach the host's address on
/// another network, and a network without NAT is forwarded nowhere. NAT: a network's subnet is masqueraded on its way
/// out of the host, and only replies come back in. Traffic inside one bridge does not cross the forward hook's rules:
/// with br_netfilter its input and output device are both the bridge.
/// </summary>
public static class NetworkFirewall
{
    public static void Apply(string table, IReadOnlyList<(NetworkDefinition Network, string Bridge)> networks)
    {
        var rules = new StringBuilder();
        // Declaring the table first makes the delete succeed when it does not exist yet.
        rules.Append($"table inet {table} {{}}\ndelete table inet {table}\n");
        if (networks.Count > 0) rules.Append(Table(table, networks));
        HostCommand.RunWithInput("nft", rules.ToString(), "-f", "-");
        if (networks.Any(n => n.Network.Nat)) File.WriteAllText("/proc/sys/net/ipv4/ip_forward", "1");
    }

    public static string Table(string table, IReadOnlyList<(NetworkDefinition Network, string Bridge)> networks)
    {
        var forward = new StringBuilder();
        var input = new StringBuilder();
        var nat = new StringBuilder();
        foreach (var (network, bridge) in networks)
        {
            var others = networks.Where(o => o.Bridge != bridge).ToList();
            if (others.Count > 0)
            {
                forward.Append($"\t\tiifname \"{bridge}\" oifname {{ {string.Join(", ", others.Select(o => $"\"{o.Bridge}\""))} }} drop\n");
                input.Append($"\t\tiifname \"{bridge}\" ip daddr {{ {string.Join(", ", others.Select(o => Ipv4Subnet.Format(o.Network.ParsedSubnet.HostAddress)))} }} drop\n");
            }
            if (network.Nat)
            {
                forward.Append($"\t\toifname \"{bridge}\" iifname != \"{bridge}\" ct state established,related accept\n");
                nat.Append($"\t\tip saddr {network.ParsedSubnet} oifname != \"{bridge}\" masquerade\n");
            }
            else forward.Append($"\t\tiifname \"{bridge}\" oifname != \"{bridge}\" drop\n");
            forward.Append($"\t\toifname \"{bridge}\" iifname != \"{bridge}\" drop\n");
        }
        return $$"""
            table inet {{table}} {
            	chain forward {
            		type filter hook forward priority filter; policy accept;
            {{forward}}	}
            	chain input {
            		type filter hook input priority filter; policy accept;
            {{input}}	}
            	chain postrouting {
            		type nat hook postrouting priority srcnat; policy accept;
            {{nat}}	}
            }

            """;
    }
}
