namespace Sharpvisor.Host.Networks;

/// <summary>A network's Linux bridge, made and removed with iproute2's `ip`. Each step checks what exists, so running it again (a restarted daemon) repairs rather than fails.</summary>
public static class LinuxBridge
{
    public static bool Exists(string name) => Directory.Exists($"/sys/class/net/{name}");

    /// <summary>The bridge exists, is up, and holds the host's address of <paramref name="subnet"/> (and no other IPv4 address).</summary>
    public static void Ensure(string name, Ipv4Subnet subnet)
    {
        if (!Exists(name)) HostCommand.Run("ip", "link", "add", "name", name, "type", "bridge");
        string address = $"{Ipv4Subnet.Format(subnet.HostAddress)}/{subnet.PrefixLength}";
        foreach (var (_, other) in Ipv4Addresses().Where(a => a.Interface == name && a.Cidr != address))
            HostCommand.Run("ip", "addr", "del", other, "dev", name);
        HostCommand.Run("ip", "addr", "replace", address, "dev", name);
        HostCommand.Run("ip", "link", "set", name, "up");
    }

    public static void Remove(string name)
    {
        if (Exists(name)) HostCommand.Run("ip", "link", "del", name);
    }

    /// <summary>Makes <paramref name="tap"/> a port of <paramref name="bridge"/>.</summary>
    public static void Attach(string tap, string bridge) => HostCommand.Run("ip", "link", "set", tap, "master", bridge);

    /// <summary>The host's IPv4 addresses: (interface, address/prefix), from `ip -o -4 addr`.</summary>
    public static IReadOnlyList<(string Interface, string Cidr)> Ipv4Addresses()
    {
        // Lines look like "2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\       valid_lft ...".
        var list = new List<(string, string)>();
        foreach (var line in HostCommand.Run("ip", "-o", "-4", "addr", "show").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int inet = Array.IndexOf(words, "inet");
            if (words.Length > 2 && inet > 0 && inet + 1 < words.Length) list.Add((words[1].TrimEnd(':').Split('@')[0], words[inet + 1]));
        }
        return list;
    }
}
