using System.Globalization;
using System.Net;

namespace Sharpvisor.Host.Networks;

/// <summary>
/// An IPv4 subnet written as CIDR (10.20.0.0/24): the host takes its first usable address, DHCP hands out the rest.
/// <see cref="Parse"/> refuses what cannot be a VM network (host bits set, loopback, multicast, fewer than two usable addresses).
/// </summary>
public readonly record struct Ipv4Subnet(uint Network, int PrefixLength)
{
    public const int MinPrefixLength = 8;
    public const int MaxPrefixLength = 30; // two usable addresses: the host's and one VM's

    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);
    public uint Broadcast => Network | ~Mask;
    /// <summary>The host's address on the network's bridge: the first usable one.</summary>
    public uint HostAddress => Network + 1;
    public uint FirstGuestAddress => Network + 2;
    public uint LastGuestAddress => Broadcast - 1;

    public bool Contains(uint address) => (address & Mask) == Network;
    public bool Overlaps(Ipv4Subnet other) => Contains(other.Network) || other.Contains(Network);

    public static string Format(uint address) =>
        string.Create(CultureInfo.InvariantCulture, $"{address >> 24}.{(address >> 16) & 255}.{(address >> 8) & 255}.{address & 255}");

    public override string ToString() => $"{Format(Network)}/{PrefixLength}";

    /// <summary>Reads "A.B.C.D/N"; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static Ipv4Subnet Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new FormatException("the subnet is missing (CIDR like 10.20.0.0/24)");
        int slash = text.IndexOf('/');
        if (slash < 0) throw new FormatException($"subnet '{text}' has no prefix length (CIDR like 10.20.0.0/24)");
        string addressText = text[..slash], prefixText = text[(slash + 1)..];
        if (addressText.Count(c => c == '.') != 3 || !IPAddress.TryParse(addressText, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new FormatException($"'{addressText}' in subnet '{text}' is not an IPv4 address (four numbers 0-255, like 10.20.0.0)");
        if (!int.TryParse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture, out int prefix) || prefix > 32)
            throw new FormatException($"'{prefixText}' in subnet '{text}' is not a prefix length (0-32)");
        if (prefix is < MinPrefixLength or > MaxPrefixLength)
            throw new FormatException($"subnet '{text}': the prefix length must be {MinPrefixLength} to {MaxPrefixLength} (a /{MaxPrefixLength} has two usable addresses, the host's and one VM's)");
        uint address = ToUInt32(ip);
        var subnet = new Ipv4Subnet(address & (uint.MaxValue << (32 - prefix)), prefix);
        if (subnet.Network != address)
            throw new FormatException($"subnet '{text}' has host bits set; the network is {subnet}");
        if (ReservedProblem(subnet) is { } reserved) throw new FormatException($"subnet {subnet} {reserved}");
        return subnet;
    }

    /// <summary>The subnet of an interface address as `ip` prints it (192.0.2.2/24), without <see cref="Parse"/>'s rules for VM networks.</summary>
    public static bool TryParseInterfaceAddress(string cidr, out Ipv4Subnet subnet)
    {
        subnet = default;
        int slash = cidr.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(cidr[..slash], out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork
            || !int.TryParse(cidr[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int prefix) || prefix > 32) return false;
        uint mask = prefix == 0 ? 0 : uint.MaxValue << (32 - prefix);
        subnet = new Ipv4Subnet(ToUInt32(ip) & mask, prefix);
        return true;
    }

    private static uint ToUInt32(IPAddress ip)
    {
        byte[] b = ip.GetAddressBytes();
        return (uint)b[0] << 24 | (uint)b[1] << 16 | (uint)b[2] << 8 | b[3];
    }

    private static readonly (Ipv4Subnet Range, string Why)[] Reserved =
    [
        (new(0x00000000, 8), "is in 0.0.0.0/8 (\"this network\")"),
        (new(0x7F000000, 8), "is in 127.0.0.0/8 (loopback)"),
        (new(0xA9FE0000, 16), "is in 169.254.0.0/16 (link-local)"),
        (new(0xE0000000, 4), "is in 224.0.0.0/4 (multicast)"),
        (new(0xF0000000, 4), "is in 240.0.0.0/4 (reserved)"),
    ];

    private static string? ReservedProblem(Ipv4Subnet subnet) =>
        Reserved.FirstOrDefault(r => r.Range.Overlaps(subnet)).Why;
}
