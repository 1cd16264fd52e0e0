using System.Globalization;

namespace Sharpvisor.Host.Networks;

/// <summary>An address dnsmasq leased to a NIC, as its leases file has it.</summary>
public sealed record DhcpLease(string Mac, string Address, string? Hostname, DateTimeOffset Expires)
{
    /// <summary>Reads dnsmasq's leases file: one lease a line, "EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID" ('*' for none); lines it cannot read are skipped.</summary>
    public static IReadOnlyList<DhcpLease> ReadFile(string path)
    {
        if (!File.Exists(path)) return [];
        var leases = new List<DhcpLease>();
        foreach (var line in File.ReadAllLines(path))
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length < 4 || !long.TryParse(words[0], NumberStyles.None, CultureInfo.InvariantCulture, out long expiry)) continue;
            leases.Add(new DhcpLease(words[1], words[2], words[3] == "*" ? null : words[3], DateTimeOffset.FromUnixTimeSeconds(expiry)));
        }
        return leases;
    }
}
