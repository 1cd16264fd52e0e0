using Sharpvisor.Host.Networks;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>
/// The daemon's isolation and NAT rules, with network namespaces standing in for VMs (a veth end on each network's
/// bridge) and for the outside world (a namespace the host reaches over a veth, with no route back to the networks).
/// </summary>
public sealed class DaemonNetworkIsolationTests : IDisposable
{
    private readonly string _id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));
    private readonly List<string> _namespaces = [];
    private readonly List<string> _links = [];
    private DaemonProcess? _daemon;

    public void Dispose()
    {
        foreach (var ns in _namespaces) TryRun("ip", "netns", "del", ns);
        foreach (var link in _links) TryRun("ip", "link", "del", link);
        if (_daemon is null) return;
        DaemonNetworks.CleanUp(_daemon, ["lan", "far"], []);
        _daemon.Dispose();
    }

    [SkippableFact]
    public async Task A_NAT_network_reaches_the_outside_masqueraded_and_two_networks_reach_each_other_only_without_the_rules()
    {
        DaemonNetworkTests.RequireNetworks();
        HostRequires.Tool("ping", "iputils-ping");
        _daemon = new DaemonProcess();
        foreach (var (name, subnet) in new[] { ("lan", "10.245.0.0/24"), ("far", "10.246.0.0/24") })
        {
            var (status, body) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/networks", new { name, subnet, nat = true });
            Assert.True(status == 201, $"{status} {body}\n{_daemon.Output}");
        }
        string lan = Namespace("l", bridge: DaemonNetworks.Bridge(_daemon, "lan"), "10.245.0.50/24", gateway: "10.245.0.1");
        string far = Namespace("f", bridge: DaemonNetworks.Bridge(_daemon, "far"), "10.246.0.50/24", gateway: "10.246.0.1");
        // The outside: the host is 10.247.0.1 on its link; it has no route to 10.245/16, so only masqueraded packets get answers.
        string outside = Namespace("o", bridge: null, "10.247.0.2/24", gateway: null);
        HostCommand.Run("ip", "addr", "add", "10.247.0.1/24", "dev", $"svx{_id}o");

        Assert.True(Ping(lan, "10.245.0.1"), "a namespace on lan does not reach the host's address on lan");
        Assert.True(Ping(lan, "10.247.0.2"), "lan does not reach the outside through NAT");
        Assert.False(Ping(lan, "10.246.0.50"), "lan reaches a namespace on far");
        Assert.False(Ping(far, "10.245.0.50"), "far reaches a namespace on lan");
        Assert.False(Ping(lan, "10.246.0.1"), "lan reaches the host's address on far");
        Assert.True(Ping(far, "10.246.0.1"), "far does not reach its own host address");

        // Without the daemon's table the host forwards between them: the rules, not the routing, kept them apart.
        HostCommand.Run("nft", "delete", "table", "inet", NetworkInterfaceNames.FirewallTable(DaemonNetworks.Paths(_daemon)));
        Assert.True(Ping(lan, "10.246.0.50"), "lan does not reach far even without the rules: the test proves nothing");
        Assert.False(Ping(lan, "10.247.0.2"), "the outside answers lan without NAT: the NAT check proves nothing");
        _ = outside;
    }

    /// <summary>A namespace with a veth whose host end is a port of <paramref name="bridge"/> (or a plain host link), its address and default route.</summary>
    private string Namespace(string tag, string? bridge, string address, string? gateway)
    {
        string ns = $"svtest-{_id}{tag}", hostEnd = $"svx{_id}{tag}", inner = $"svy{_id}{tag}";
        HostCommand.Run("ip", "netns", "add", ns);
        _namespaces.Add(ns);
        HostCommand.Run("ip", "link", "add", hostEnd, "type", "veth", "peer", "name", inner);
        _links.Add(hostEnd);
        HostCommand.Run("ip", "link", "set", inner, "netns", ns);
        if (bridge is not null) LinuxBridge.Attach(hostEnd, bridge);
        HostCommand.Run("ip", "link", "set", hostEnd, "up");
        HostCommand.Run("ip", "-n", ns, "addr", "add", address, "dev", inner);
        HostCommand.Run("ip", "-n", ns, "link", "set", inner, "up");
        HostCommand.Run("ip", "-n", ns, "link", "set", "lo", "up");
        if (gateway is not null) HostCommand.Run("ip", "-n", ns, "route", "add", "default", "via", gateway);
        return ns;
    }

    private static bool Ping(string ns, string address)
    {
        try
        {
            HostCommand.Run("ip", "netns", "exec", ns, "ping", "-c", "2", "-W", "2", address);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static void TryRun(string tool, params string[] arguments)
    {
        try { HostCommand.Run(tool, arguments); } catch (IOException) { }
    }
}
