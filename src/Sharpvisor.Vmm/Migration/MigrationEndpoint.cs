using System.Globalization;
using System.Net;

namespace Sharpvisor.Vmm.Migration;

/// <summary>Parses the addresses migration takes: <c>HOST:PORT</c> to connect to, <c>[ADDR:]PORT</c> to listen on.</summary>
public static class MigrationEndpoint
{
    /// <summary><c>HOST:PORT</c> (an IPv6 address in brackets: <c>[::1]:4444</c>); throws <see cref="FormatException"/>.</summary>
    public static (string Host, int Port) ParseTarget(string text)
    {
        int colon = text.LastIndexOf(':');
        if (colon <= 0) throw new FormatException($"'{text}' is not HOST:PORT");
        string host = text[..colon].Trim('[', ']');
        if (host.Length == 0) throw new FormatException($"'{text}' has no host");
        return (host, ParsePort(text[(colon + 1)..], text));
    }

    /// <summary><c>PORT</c> (all IPv4 addresses) or <c>ADDR:PORT</c>; throws <see cref="FormatException"/>.</summary>
    public static IPEndPoint ParseListen(string text)
    {
        int colon = text.LastIndexOf(':');
        if (colon < 0) return new IPEndPoint(IPAddress.Any, ParsePort(text, text));
        string host = text[..colon].Trim('[', ']');
        int port = ParsePort(text[(colon + 1)..], text);
        if (host.Length == 0) return new IPEndPoint(IPAddress.Any, port);
        if (IPAddress.TryParse(host, out var address)) return new IPEndPoint(address, port);
        var addresses = Dns.GetHostAddresses(host);
        if (addresses.Length == 0) throw new FormatException($"'{host}' has no address");
        return new IPEndPoint(addresses[0], port);
    }

    private static int ParsePort(string text, string whole)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
            throw new FormatException($"'{whole}': the port must be a number from 0 to 65535");
        return port;
    }

    /// <summary>Text for an endpoint, IPv6 in brackets.</summary>
    public static string Format(IPEndPoint endpoint) => endpoint.ToString();
}
