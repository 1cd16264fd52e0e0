namespace Sharpvisor.Host.Networks;

/// <summary>A persistent tap the daemon makes for a VMM before it starts: owned by the VMM's uid, joined to a network's bridge, up.</summary>
public static class HostTap
{
    /// <summary>
    /// Makes <paramref name="tap"/> (if missing) for <paramref name="uid"/> (null: any user of the daemon's own), makes it a
    /// port of <paramref name="bridge"/> when one is given, and brings it up. A daemon network's tap (one with a
    /// bridge) is the daemon's own: it is made again when an earlier VMM's uid owns it.
    /// </summary>
    public static void Make(string tap, int? uid, string? bridge)
    {
        string owner = $"/sys/class/net/{tap}/owner";
        if (bridge is not null && uid is { } u && File.Exists(owner) && File.ReadAllText(owner).Trim() != u.ToString())
            HostCommand.Run("ip", "link", "del", tap);
        if (!LinuxBridge.Exists(tap))
            HostCommand.Run("ip", ["tuntap", "add", "dev", tap, "mode", "tap", .. uid is { } id ? ["user", id.ToString()] : Array.Empty<string>()]);
        if (bridge is not null) LinuxBridge.Attach(tap, bridge);
        HostCommand.Run("ip", "link", "set", tap, "up");
    }
}
