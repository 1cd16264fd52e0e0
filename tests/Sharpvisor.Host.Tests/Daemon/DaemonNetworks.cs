using System.Diagnostics;
using Sharpvisor.Host.Networks;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>What the networks tests look at on the host, and the cleanup that leaves no bridge, dnsmasq or rule behind a test daemon.</summary>
internal static class DaemonNetworks
{
    public static HostPaths Paths(DaemonProcess daemon) => new(daemon.StateDirectory);

    public static string Bridge(DaemonProcess daemon, string network) => NetworkInterfaceNames.Bridge(Paths(daemon), network);

    public static string Addresses(string device) => HostCommand.Run("ip", "-o", "-4", "addr", "show", "dev", device);

    public static string FirewallTable(DaemonProcess daemon)
    {
        try { return HostCommand.Run("nft", "list", "table", "inet", NetworkInterfaceNames.FirewallTable(Paths(daemon))); }
        catch (IOException) { return ""; } // no such table
    }

    /// <summary>The dnsmasq processes whose command line names the daemon's state directory.</summary>
    public static IReadOnlyList<int> DnsmasqPids(DaemonProcess daemon) =>
        Directory.GetDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out int pid) ? pid : 0).Where(pid => pid > 0)
            .Where(pid =>
            {
                try
                {
                    string cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
                    return cmdline.Contains("dnsmasq", StringComparison.Ordinal) && cmdline.Contains(daemon.StateDirectory + "/", StringComparison.Ordinal);
                }
                catch (IOException) { return false; }
            }).ToArray();

    /// <summary>Takes down what the daemon's networks made, whatever state the test left them in (call before disposing the daemon).</summary>
    public static void CleanUp(DaemonProcess daemon, IEnumerable<string> networks, IEnumerable<(string Vm, int Nics)> vms)
    {
        foreach (int pid in DnsmasqPids(daemon))
        {
            try { Process.GetProcessById(pid).Kill(); } catch (Exception e) when (e is ArgumentException or InvalidOperationException) { }
        }
        var devices = networks.Select(n => Bridge(daemon, n))
            .Concat(vms.SelectMany(v => Enumerable.Range(0, v.Nics).Select(i => NetworkInterfaceNames.Tap(Paths(daemon), v.Vm, i))));
        foreach (var device in devices.Where(LinuxBridge.Exists))
        {
            try { HostCommand.Run("ip", "link", "del", device); } catch (IOException) { }
        }
        try { HostCommand.Run("nft", "delete", "table", "inet", NetworkInterfaceNames.FirewallTable(Paths(daemon))); } catch (IOException) { }
    }
}
