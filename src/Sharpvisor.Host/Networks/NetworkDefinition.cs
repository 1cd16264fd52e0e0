using Sharpvisor.Host.Instances;

namespace Sharpvisor.Host.Networks;

/// <summary>
/// A virtual network the daemon keeps: a Linux bridge holding the host's address in <see cref="Subnet"/>, DHCP and DNS
/// for its VMs, and masquerading to the host's uplink when <see cref="Nat"/>. A plain, versioned record kept in the
/// store; <see cref="Validated"/> checks its rules against the networks already defined.
/// </summary>
public sealed record NetworkDefinition
{
    public const int CurrentVersion = 1;
    public int Version { get; init; } = CurrentVersion;

    public required string Name { get; init; }
    /// <summary>IPv4 CIDR, e.g. 10.20.0.0/24.</summary>
    public required string Subnet { get; init; }
    public bool Nat { get; init; }
    public string Description { get; init; } = "";

    public Ipv4Subnet ParsedSubnet => Ipv4Subnet.Parse(Subnet);

    /// <summary>Throws <see cref="NetworkDefinitionException"/> naming the field when a rule is broken; returns it with the subnet written canonically.</summary>
    public NetworkDefinition Validated(IEnumerable<NetworkDefinition> others)
    {
        if (Version != CurrentVersion) throw new NetworkDefinitionException("version", $"network definition version {Version} is not {CurrentVersion}");
        // The same rule as VM names: a network's name becomes a folder name and a URL segment.
        if (InstanceDefinition.NameProblem(Name) is { } problem) throw new NetworkDefinitionException("name", problem.Replace("name '", "network name '", StringComparison.Ordinal));
        Ipv4Subnet subnet;
        try { subnet = Ipv4Subnet.Parse(Subnet); }
        catch (FormatException e) { throw new NetworkDefinitionException("subnet", e.Message); }
        foreach (var other in others.Where(o => o.Name != Name))
            if (other.ParsedSubnet.Overlaps(subnet))
                throw new NetworkDefinitionException("subnet", $"subnet {subnet} overlaps network '{other.Name}' ({other.Subnet})");
        if (Description.Length > 1024) throw new NetworkDefinitionException("description", "the description is longer than 1,024 characters");
        return this with { Subnet = subnet.ToString() };
    }
}

/// <summary>A network definition broke a rule: <see cref="Field"/> names the field, as the API reports it.</summary>
public sealed class NetworkDefinitionException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}
