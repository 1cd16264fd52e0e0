using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sharpvisor.Vmm.Images;
using Xunit.Abstractions;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>
/// Default guests on the daemon's networks: two on one network take DHCP leases from its dnsmasq, ping each other and
/// move 20 MiB intact; a guest on a second network reaches its own gateway but neither of them nor the host's address
/// on theirs. Both networks have NAT, so each guest has a default route through the host and only the isolation rules
/// stand between them (without them the host would forward, and masquerade, the packets).
/// </summary>
public sealed partial class DaemonNetworkGuestTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(4);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(3);
    private DaemonProcess? _daemon;

    public void Dispose()
    {
        if (_daemon is null) return;
        DaemonNetworks.CleanUp(_daemon, ["lan", "far"], [("a", 1), ("b", 1), ("c", 1)]);
        _daemon.Dispose();
    }

    [SkippableFact]
    public async Task Two_VMs_on_a_network_get_leases_ping_each_other_and_move_20_MiB_and_a_VM_on_another_network_cannot_reach_them()
    {
        DaemonNetworkTests.RequireNetworks();
        _daemon = new DaemonProcess();
        var daemon = _daemon;
        await CreateNetworkAsync("lan", "10.243.0.0/24");
        await CreateNetworkAsync("far", "10.244.0.0/24");
        foreach (var (vm, network) in new[] { ("a", "lan"), ("b", "lan"), ("c", "far") })
        {
            var (status, body) = await daemon.SendAsync(HttpMethod.Post, "/1.0/instances",
                new { name = vm, memory = "256M", engine = "emulator", nics = new[] { new { network } } });
            Assert.True(status == 201, $"{status} {body}");
        }

        await Task.WhenAll(daemon.StartAsync("a"), daemon.StartAsync("b"));
        string addressA = await LeaseAsync("a", "lan", "10.243.0.");
        string addressB = await LeaseAsync("b", "lan", "10.243.0.");
        Assert.NotEqual(addressA, addressB);

        using var consoleA = await daemon.OpenConsoleAsync("a");
        using var consoleB = await daemon.OpenConsoleAsync("b");
        await RunAsync(consoleA, "echo ready", expectSuccess: true);
        await RunAsync(consoleB, "echo ready", expectSuccess: true);
        await RunAsync(consoleA, $"ping -c 3 -W 5 {addressB}", expectSuccess: true);
        await RunAsync(consoleB, $"ping -c 3 -W 5 {addressA}", expectSuccess: true);

        // 20 MiB from b to a over TCP (busybox nc), the same SHA-256 on both sides.
        await RunAsync(consoleA, "nc -l -p 5001 > /tmp/got & true", expectSuccess: true);
        string made = await RunAsync(consoleB, "dd if=/dev/urandom of=/tmp/blob bs=1M count=20 2>/dev/null && sha256sum /tmp/blob", expectSuccess: true);
        string sent = Sha256Line().Match(made).Groups[1].Value;
        await RunAsync(consoleB, $"nc {addressA} 5001 < /tmp/blob", expectSuccess: true);
        string got = await RunAsync(consoleA, "wait; ls -l /tmp/got; sha256sum /tmp/got", expectSuccess: true);
        Assert.Contains(" 20971520 ", got);
        Assert.Equal(sent, Sha256Line().Match(got).Groups[1].Value);

        // b stops (the host has two shared cores); c comes up on the other network.
        var stop = await daemon.RunOperationAsync(HttpMethod.Put, "/1.0/instances/b/state", new { action = "stop", force = true }, CommandTimeout);
        Assert.Equal("success", stop.GetProperty("status").GetString());
        await daemon.StartAsync("c");
        await LeaseAsync("c", "far", "10.244.0.");
        using var consoleC = await daemon.OpenConsoleAsync("c");
        await RunAsync(consoleC, "echo ready", expectSuccess: true);
        Assert.Contains("default via 10.244.0.1", await RunAsync(consoleC, "ip route", expectSuccess: true));
        await RunAsync(consoleC, "ping -c 2 -W 5 10.244.0.1", expectSuccess: true);
        await RunAsync(consoleC, $"ping -c 3 -W 3 {addressA}", expectSuccess: false);
        await RunAsync(consoleC, "ping -c 2 -W 3 10.243.0.1", expectSuccess: false);
        await RunAsync(consoleA, "ping -c 2 -W 5 10.243.0.1", expectSuccess: true); // a itself is still fine
    }

    private async Task CreateNetworkAsync(string name, string subnet)
    {
        var (status, body) = await _daemon!.SendAsync(HttpMethod.Post, "/1.0/networks", new { name, subnet, nat = true });
        Assert.True(status == 201, $"{status} {body}\n{_daemon.Output}");
    }

    /// <summary>Waits for the guest's "eth0 bound" line; checks dnsmasq's lease for its MAC is that address.</summary>
    private async Task<string> LeaseAsync(string vm, string network, string prefix)
    {
        await _daemon!.WaitForConsoleAsync(vm, $"{GuestInitScript.DhcpBoundPrefix} {prefix}", BootTimeout);
        string bound = BoundLine().Match(await _daemon.ConsoleLogAsync(vm)).Groups[1].Value;
        string mac = (await _daemon.GetAsync($"/1.0/instances/{vm}")).GetProperty("nics")[0].GetProperty("mac").GetString()!;
        var leases = (await _daemon.GetAsync($"/1.0/networks/{network}")).GetProperty("leases").EnumerateArray().ToList();
        Assert.Contains(leases, l => l.GetProperty("mac").GetString() == mac && l.GetProperty("address").GetString() == bound);
        output.WriteLine($"{vm} ({mac}) has {bound} on {network}");
        return bound;
    }

    /// <summary>Types <paramref name="command"/> into a console; waits for its exit status, printed after it by a marker only running it makes.</summary>
    private async Task<string> RunAsync(ClientWebSocket console, string command, bool expectSuccess)
    {
        await console.SendAsync(Encoding.ASCII.GetBytes($"{command}; echo \"@@$((1000+$?))@@\"\n"), WebSocketMessageType.Binary, true, CancellationToken.None);
        var seen = new StringBuilder();
        using var cancel = new CancellationTokenSource(CommandTimeout);
        var buffer = new byte[4096];
        Match status;
        while (!(status = StatusMarker().Match(seen.ToString())).Success)
        {
            var received = await console.ReceiveAsync(buffer, cancel.Token);
            if (received.MessageType == WebSocketMessageType.Close) throw new IOException($"the console closed during '{command}': {seen}");
            seen.Append(Encoding.UTF8.GetString(buffer, 0, received.Count));
        }
        int code = int.Parse(status.Groups[1].Value) - 1000;
        output.WriteLine($"$ {command} -> {code}\n{seen}");
        Assert.True(expectSuccess == (code == 0), $"'{command}' exited {code}: {seen}");
        return seen.ToString();
    }

    [GeneratedRegex(@"@@(\d{4})@@")]
    private static partial Regex StatusMarker();

    [GeneratedRegex(@"\b([0-9a-f]{64})\s+/tmp/")]
    private static partial Regex Sha256Line();

    [GeneratedRegex(@"eth0 bound (\d+\.\d+\.\d+\.\d+)/")]
    private static partial Regex BoundLine();
}
