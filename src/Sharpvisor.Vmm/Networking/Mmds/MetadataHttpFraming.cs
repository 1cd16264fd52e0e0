using System.Text;

namespace Sharpvisor.Vmm.Networking.Mmds;

/// <summary>Where an HTTP/1.x request ends: after its header block and the Content-Length bytes it announces.</summary>
public static class MetadataHttpFraming
{
    /// <summary>Whether <paramref name="bytes"/> holds a whole request (and perhaps more).</summary>
    public static bool IsComplete(ReadOnlySpan<byte> bytes)
    {
        int end = bytes.IndexOf("\r\n\r\n"u8);
        if (end < 0) return false;
        long body = 0;
        foreach (string line in Encoding.ASCII.GetString(bytes[..end]).Split("\r\n"))
        {
            int colon = line.IndexOf(':');
            if (colon > 0 && line[..colon].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                          && long.TryParse(line[(colon + 1)..].Trim(), out long length) && length > 0)
                body = length;
        }
        return bytes.Length - (end + 4) >= body;
    }
}
