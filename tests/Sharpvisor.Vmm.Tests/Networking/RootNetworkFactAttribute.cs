namespace Sharpvisor.Vmm.Tests.Networking;

/// <summary>
/// A fact that needs root (network namespaces, creating taps) and /dev/net/tun; skipped with the reason otherwise.
/// Skippable, so a test can also require more (KVM) with HostRequires.
/// </summary>
public sealed class RootNetworkFactAttribute : SkippableFactAttribute
{
    public RootNetworkFactAttribute()
    {
        if (!IsRoot()) Skip = "needs root: it creates a network namespace and a tap interface";
        else if (!File.Exists("/dev/net/tun")) Skip = "needs /dev/net/tun (the tun driver: modprobe tun)";
        else if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip") && !File.Exists("/bin/ip"))
            Skip = "needs the ip command (iproute2)";
    }

    private static bool IsRoot()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
                return line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[2] == "0";   // effective UID
        return false;
    }
}
