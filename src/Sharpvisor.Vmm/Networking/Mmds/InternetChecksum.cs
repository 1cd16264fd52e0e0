using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Networking.Mmds;

/// <summary>The one's-complement sum of RFC 1071, for IPv4 headers and TCP segments (with their pseudo-header).</summary>
public static class InternetChecksum
{
    public static uint Add(uint sum, ReadOnlySpan<byte> data)
    {
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (i < data.Length) sum += (uint)data[i] << 8;
        return sum;
    }

    public static ushort Finish(uint sum)
    {
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    /// <summary>A TCP segment's checksum over the IPv4 pseudo-header and the segment (its checksum field zero).</summary>
    public static ushort Tcp(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, ReadOnlySpan<byte> segment)
    {
        uint sum = Add(0, source);
        sum = Add(sum, destination);
        sum += 6;                                   // protocol TCP
        sum += (uint)segment.Length;
        return Finish(Add(sum, segment));
    }
}
