using System.Diagnostics;
using Sharpvisor.Host.Networks;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>
/// The daemon's networks on the real host (root): a bridge with the host's address, a supervised dnsmasq, the nftables
/// table; what a killed daemon left is taken over by the next; a delete takes it all down, and is refused while a VM
/// names the network. Subnets are 10.241-249.x, unlikely to be on a test host.
/// </summary>
public sealed class DaemonNetworkTests : IDisposable
{
    private readonly DaemonProcess _daemon;

    public DaemonNetworkTests()
    {
        RequireNetworks();
        _daemon = new DaemonProcess();
    }

    internal static void RequireNetworks()
    {
        Skip.IfNot(Environment.IsPrivilegedProcess, "the daemon's networks need root (bridges, taps, nftables)");
        HostRequires.Tool("ip", "iproute2");
        HostRequires.Tool("nft", "nftables");
        HostRequires.Tool("dnsmasq", "dnsmasq-base");
    }

    public void Dispose()
    {
        DaemonNetworks.CleanUp(_daemon, ["lan", "other"], [("vm", 1)]);
        _daemon.Dispose();
    }

    [SkippableFact]
    public async Task A_network_is_brought_up_taken_over_after_a_daemon_kill_and_taken_down_on_delete()
    {
        var (status, body) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/networks", new { name = "lan", subnet = "10.241.0.0/24" });
        Assert.True(status == 201, $"{status} {body}\n{_daemon.Output}");
        string bridge = DaemonNetworks.Bridge(_daemon, "lan");
        Assert.Equal(bridge, body.GetProperty("metadata").GetProperty("bridge").GetString());
        Assert.Contains("inet 10.241.0.1/24", DaemonNetworks.Addresses(bridge));
        int dnsmasq = DaemonNetworks.DnsmasqPids(_daemon).Single();
        string cmdline = File.ReadAllText($"/proc/{dnsmasq}/cmdline").Replace('\0', ' ');
        Assert.Contains("--dhcp-range=10.241.0.2,10.241.0.254,255.255.255.0,1h", cmdline);
        Assert.Contains($"--interface={bridge}", cmdline);
        Assert.Contains($"--dhcp-leasefile={Path.Combine(_daemon.StateDirectory, "networks", "lan", "leases")}", cmdline);
        Assert.Contains($"oifname \"{bridge}\" iifname != \"{bridge}\" drop", DaemonNetworks.FirewallTable(_daemon));

        // Refusals name the problem and change nothing.
        (status, body) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/networks", new { name = "other", subnet = "10.241.0.128/25" });
        Assert.Equal(400, status);
        Assert.Equal("subnet", body.GetProperty("field").GetString());
        Assert.Contains("overlaps network 'lan'", body.GetProperty("error").GetString());
        (status, body) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/networks", new { name = "lan", subnet = "10.242.0.0/24" });
        Assert.Equal(409, status);
        (status, body) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/networks", new { name = "other", subnet = "10.242.0.1/24" });
        Assert.Equal(400, status);
        Assert.Contains("host bits set; the network is 10.242.0.0/24", body.GetProperty("error").GetString());
        Assert.Single((await _daemon.GetAsync("/1.0/networks")).EnumerateArray());

        // A VM's NIC names a network that exists, and gets a MAC kept in its definition; the network cannot go while the VM names it.
        (status, body) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/instances", new { name = "vm", memory = "128M", nics = new[] { new { network = "nowhere" } } });
        Assert.Equal(400, status);
        Assert.Equal("nics[0]", body.GetProperty("field").GetString());
        (status, body) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/instances", new { name = "vm", memory = "128M", nics = new[] { new { network = "lan" } } });
        Assert.True(status == 201, $"{status} {body}");
        string mac = body.GetProperty("metadata").GetProperty("nics")[0].GetProperty("mac").GetString()!;
        Assert.Matches("^52:54:00(:[0-9a-f]{2}){3}$", mac);
        Assert.Equal(mac, (await _daemon.GetAsync("/1.0/instances/vm")).GetProperty("nics")[0].GetProperty("mac").GetString());
        Assert.Equal(["vm"], (await _daemon.GetAsync("/1.0/networks/lan")).GetProperty("used_by").EnumerateArray().Select(u => u.GetString()));
        (status, body) = await _daemon.SendAsync(HttpMethod.Delete, "/1.0/networks/lan");
        Assert.Equal(409, status);
        Assert.Contains("used by 'vm'", body.GetProperty("error").GetString());

        // The daemon starts its dnsmasq again when it ends.
        Process.GetProcessById(dnsmasq).Kill();
        int restartedDnsmasq = await WaitForAsync(() => DaemonNetworks.DnsmasqPids(_daemon) is [int one] && one != dnsmasq ? one : 0, "dnsmasq started again");

        // A killed daemon leaves the bridge and its dnsmasq; the next takes them over: one dnsmasq, a new one.
        _daemon.KillDaemonOnly();
        Assert.Contains(restartedDnsmasq, DaemonNetworks.DnsmasqPids(_daemon));
        using (var again = new DaemonProcess(_daemon.Root))
        {
            int taken = DaemonNetworks.DnsmasqPids(_daemon).Single();
            Assert.NotEqual(restartedDnsmasq, taken);
            Assert.Equal(taken, (await again.GetAsync("/1.0/networks/lan")).GetProperty("dnsmasq_pid").GetInt32());
            Assert.Contains("inet 10.241.0.1/24", DaemonNetworks.Addresses(bridge));

            (status, body) = await again.SendAsync(HttpMethod.Delete, "/1.0/instances/vm");
            Assert.True(status == 200, $"{status} {body}");
            (status, body) = await again.SendAsync(HttpMethod.Delete, "/1.0/networks/lan");
            Assert.True(status == 200, $"{status} {body}");
            Assert.False(LinuxBridge.Exists(bridge), $"bridge {bridge} is still there");
            Assert.Empty(DaemonNetworks.DnsmasqPids(_daemon));
            Assert.DoesNotContain(bridge, DaemonNetworks.FirewallTable(_daemon));
            Assert.False(Directory.Exists(Path.Combine(_daemon.StateDirectory, "networks", "lan")));
            Assert.Empty((await again.GetAsync("/1.0/networks")).EnumerateArray());
        }
    }

    internal static async Task<int> WaitForAsync(Func<int> probe, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            int value = probe();
            if (value != 0) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what}: not seen in 30 s");
            await Task.Delay(200);
        }
    }
}
