using System.Security.Cryptography;
using System.Text;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Vmm.Networking;

namespace Sharpvisor.Vmm.Configuration;

/// <summary>
/// A virtio-net interface on a tap: written tap=NAME[,mac=52:54:00:12:34:56] on the command line. Without a MAC the
/// guest gets one derived from the tap's name (QEMU's 52:54:00 prefix, the rest from a hash), the same on every run.
/// </summary>
public sealed record NetSpec(string Tap, string? Mac = null)
{
    /// <summary>The MAC address the guest sees: the given one, or the one derived from the tap's name.</summary>
    public string MacAddress => Mac ?? DefaultMacFor(Tap);

    public byte[] MacBytes()
    {
        if (!VirtioNet.TryParseMac(MacAddress, out var mac)) throw new FormatException($"'{MacAddress}' is not a MAC address");
        return mac;
    }

    /// <summary>52:54:00 followed by the first three bytes of SHA-256("sharpvisor-net:" + tap).</summary>
    public static string DefaultMacFor(string tap)
    {
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes($"sharpvisor-net:{tap}"));
        return VirtioNet.FormatMac([0x52, 0x54, 0x00, hash[0], hash[1], hash[2]]);
    }

    /// <summary>Parses "tap=NAME[,mac=XX:XX:XX:XX:XX:XX]" (options in any order); throws <see cref="FormatException"/>.</summary>
    public static NetSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) throw new FormatException("--net names no tap (--net tap=NAME[,mac=52:54:00:..])");
        string? tap = null, mac = null;
        foreach (string option in text.Split(','))
        {
            int equals = option.IndexOf('=');
            string key = equals < 0 ? option : option[..equals];
            string value = equals < 0 ? "" : option[(equals + 1)..];
            switch (key)
            {
                case "tap" when tap is null:
                    if (!TapBackend.IsValidInterfaceName(value))
                        throw new FormatException($"'{value}' is not a valid interface name for a tap (1-15 characters, no '/', ':' or spaces)");
                    tap = value;
                    break;
                case "mac" when mac is null:
                    if (!VirtioNet.TryParseMac(value, out var bytes))
                        throw new FormatException($"'{value}' is not a MAC address (six hex bytes like 52:54:00:12:34:56)");
                    if ((bytes[0] & 1) != 0) throw new FormatException($"{value} is a multicast address; a NIC needs a unicast one (even first byte)");
                    if (bytes.All(b => b == 0)) throw new FormatException("00:00:00:00:00:00 is not a usable MAC address");
                    mac = VirtioNet.FormatMac(bytes);
                    break;
                case "tap" or "mac":
                    throw new FormatException($"'{key}' is given twice in --net {text}");
                default:
                    throw new FormatException($"--net option '{option}' is not tap=NAME or mac=ADDRESS (--net tap=NAME[,mac=52:54:00:..])");
            }
        }
        if (tap is null) throw new FormatException($"--net {text} names no tap (--net tap=NAME[,mac=52:54:00:..])");
        return new NetSpec(tap, mac);
    }

    public override string ToString() => Mac is null ? $"tap={Tap}" : $"tap={Tap},mac={Mac}";
}
