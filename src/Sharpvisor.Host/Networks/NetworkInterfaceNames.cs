using System.Security.Cryptography;
using System.Text;

namespace Sharpvisor.Host.Networks;

/// <summary>
/// Host interface names for a daemon's bridges and taps. A Linux interface name has at most 15 characters, and two
/// daemons on one host (state directories) may both have a network or VM of a name: so the names are a prefix and a
/// hash of the state directory and the network's (or the VM's NIC's) name, the same on every start.
/// </summary>
public static class NetworkInterfaceNames
{
    public const string BridgePrefix = "svb";
    public const string TapPrefix = "svt";

    public static string Bridge(HostPaths paths, string network) => BridgePrefix + Hash($"{paths.StateDirectory}\nnetwork\n{network}");

    /// <summary>The tap of the VM's <paramref name="index"/>th NIC on a daemon network.</summary>
    public static string Tap(HostPaths paths, string instance, int index) => TapPrefix + Hash($"{paths.StateDirectory}\ntap\n{instance}\n{index}");

    /// <summary>The nftables table that holds the isolation and NAT rules of the daemon's networks.</summary>
    public static string FirewallTable(HostPaths paths) => "sharpvisor-" + Hash(paths.StateDirectory);

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..10];
}
