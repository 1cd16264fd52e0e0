namespace Sharpvisor.Vmm.Tests.Networking;

/// <summary>
/// A fact that needs root (network namespaces, creating taps) and /dev/net/tun; skipped with the reason otherwise.
/// Skippable, so a test can also require more (KVM) with HostRequires.
/// </summary>
public sealed class RootNetworkFactAttribute : SkippableFactAttribute
{
    public RootNetworkFactAttribute()
    {
        if (WhyUnavailable() is { } reason) Skip = reason;
    }

    /// <summary>Why taps and namespaces cannot be made here (null where they can); for skippable theories.</summary>
    public static string? WhyUnavailable()
    {
        if (!IsRoot()) return "needs root: it creates a network namespace and a tap interface";
        if (!File.Exists("/dev/net/tun")) return "needs /dev/net/tun (the tun driver: modprobe tun)";
        if (HostRequires.FindOnPath("ip") is null) return "needs the ip command (Debian package iproute2; ./sharpvisor test installs it)";
        return null;
    }

    private static bool IsRoot()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
                return line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[2] == "0";   // effective UID
        return false;
    }
}
