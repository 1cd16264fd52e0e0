using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Networks;

namespace Sharpvisor.Host.Tests.Networks;

public sealed class NetworkDefinitionTests
{
    private static NetworkDefinition Net(string name, string subnet, bool nat = false) => new() { Name = name, Subnet = subnet, Nat = nat };

    [Theory]
    [InlineData("10.20.0.0/24", "10.20.0.1", "10.20.0.2", "10.20.0.254")]
    [InlineData("192.168.7.0/30", "192.168.7.1", "192.168.7.2", "192.168.7.2")]
    [InlineData("172.16.0.0/12", "172.16.0.1", "172.16.0.2", "172.31.255.254")]
    public void A_subnet_gives_the_host_its_first_address_and_DHCP_the_rest(string cidr, string host, string first, string last)
    {
        var subnet = Ipv4Subnet.Parse(cidr);
        Assert.Equal(cidr, subnet.ToString());
        Assert.Equal(host, Ipv4Subnet.Format(subnet.HostAddress));
        Assert.Equal(first, Ipv4Subnet.Format(subnet.FirstGuestAddress));
        Assert.Equal(last, Ipv4Subnet.Format(subnet.LastGuestAddress));
    }

    [Theory]
    [InlineData("", "the subnet is missing")]
    [InlineData("10.20.0.0", "has no prefix length")]
    [InlineData("10.20.0/24", "is not an IPv4 address")]
    [InlineData("10.20.0.300/24", "is not an IPv4 address")]
    [InlineData("fd00::/64", "is not an IPv4 address")]
    [InlineData("10.20.0.0/x", "is not a prefix length")]
    [InlineData("10.20.0.0/33", "is not a prefix length")]
    [InlineData("10.0.0.0/7", "the prefix length must be 8 to 30")]
    [InlineData("10.20.0.0/31", "the prefix length must be 8 to 30")]
    [InlineData("10.20.0.5/24", "has host bits set; the network is 10.20.0.0/24")]
    [InlineData("127.1.0.0/16", "loopback")]
    [InlineData("224.1.0.0/16", "multicast")]
    [InlineData("169.254.0.0/16", "link-local")]
    public void A_bad_subnet_is_refused_with_what_is_wrong(string cidr, string expected)
    {
        var e = Assert.Throws<NetworkDefinitionException>(() => Net("lan", cidr).Validated([]));
        Assert.Equal("subnet", e.Field);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("10.20.0.0/24", "10.20.0.0/24")]
    [InlineData("10.20.0.0/16", "10.20.5.0/24")]
    [InlineData("10.20.5.0/24", "10.20.0.0/16")]
    [InlineData("10.20.0.128/25", "10.20.0.0/24")]
    public void Overlapping_subnets_are_refused_naming_the_other_network(string existing, string wanted)
    {
        var e = Assert.Throws<NetworkDefinitionException>(() => Net("b", wanted).Validated([Net("a", existing)]));
        Assert.Equal("subnet", e.Field);
        Assert.Contains($"overlaps network 'a' ({existing})", e.Message);
    }

    [Fact]
    public void Neighbouring_subnets_do_not_overlap()
    {
        var b = Net("b", "10.20.1.0/24").Validated([Net("a", "10.20.0.0/24"), Net("c", "10.20.2.0/23")]);
        Assert.Equal("10.20.1.0/24", b.Subnet);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Lan")]
    [InlineData("-lan")]
    [InlineData("a/b")]
    [InlineData("a.b")]
    public void A_bad_name_is_refused(string name)
    {
        var e = Assert.Throws<NetworkDefinitionException>(() => Net(name, "10.20.0.0/24").Validated([]));
        Assert.Equal("name", e.Field);
    }

    [Fact]
    public void A_NIC_needs_a_network_name_and_a_unicast_MAC_and_MACs_are_not_shared()
    {
        var vm = new InstanceDefinition { Name = "vm" };
        var policy = new DiskRoots([]);
        Assert.Equal("nics[0]", Assert.Throws<InstanceDefinitionException>(() => (vm with { NetworkNics = [new("Bad Name", "52:54:00:00:00:01")] }).Validated(policy)).Field);
        Assert.Contains("multicast", Assert.Throws<InstanceDefinitionException>(() => (vm with { NetworkNics = [new("lan", "53:54:00:00:00:01")] }).Validated(policy)).Message);
        Assert.Contains("not a MAC address", Assert.Throws<InstanceDefinitionException>(() => (vm with { NetworkNics = [new("lan", "52:54:00")] }).Validated(policy)).Message);
        Assert.Contains("more than one NIC", Assert.Throws<InstanceDefinitionException>(() =>
            (vm with { NetworkNics = [new("lan", "52:54:00:00:00:01"), new("wan", "52:54:00:00:00:01")] }).Validated(policy)).Message);
        Assert.Equal(2, (vm with { NetworkNics = [new("lan", "52:54:00:00:00:01"), new("lan", "52:54:00:00:00:02")] }).Validated(policy).NetworkNics.Count);
    }

    [Fact]
    public void Random_MACs_have_the_local_prefix()
    {
        var macs = Enumerable.Range(0, 50).Select(_ => NetworkNic.RandomMac()).ToList();
        Assert.All(macs, m => Assert.Matches("^52:54:00(:[0-9a-f]{2}){3}$", m));
        Assert.True(macs.Distinct().Count() > 40);
    }

    [Fact]
    public void Interface_names_fit_in_15_characters_and_differ_between_daemons()
    {
        var one = new HostPaths("/var/lib/one");
        var two = new HostPaths("/var/lib/two");
        string name = new('a', 63);
        Assert.True(NetworkInterfaceNames.Bridge(one, name).Length <= 15);
        Assert.True(NetworkInterfaceNames.Tap(one, name, 7).Length <= 15);
        Assert.NotEqual(NetworkInterfaceNames.Bridge(one, "lan"), NetworkInterfaceNames.Bridge(two, "lan"));
        Assert.NotEqual(NetworkInterfaceNames.Tap(one, "vm", 0), NetworkInterfaceNames.Tap(one, "vm", 1));
        Assert.Equal(NetworkInterfaceNames.Bridge(one, "lan"), NetworkInterfaceNames.Bridge(new HostPaths("/var/lib/one"), "lan"));
    }

    [Fact]
    public void Dnsmasq_leases_are_read_and_unreadable_lines_skipped()
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(file, ["1765100000 52:54:00:aa:bb:cc 10.20.0.57 guest 01:52:54:00:aa:bb:cc", "garbage", "1765100001 52:54:00:aa:bb:cd 10.20.0.58 * *"]);
            var leases = DhcpLease.ReadFile(file);
            Assert.Equal(2, leases.Count);
            Assert.Equal(new DhcpLease("52:54:00:aa:bb:cc", "10.20.0.57", "guest", DateTimeOffset.FromUnixTimeSeconds(1765100000)), leases[0]);
            Assert.Null(leases[1].Hostname);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
