using System.Buffers.Binary;
using System.Net;
using System.Text;
using Sharpvisor.Vmm.Networking.Mmds;

namespace Sharpvisor.Vmm.Tests.Networking;

/// <summary>The metadata service's ARP and TCP, frame by frame, as a guest's stack meets them (checksums verified).</summary>
public sealed class MetadataTcpResponderTests
{
    private static readonly byte[] GuestMac = [0x06, 0, 0xAC, 0x10, 0, 2], GuestIp = [10, 0, 0, 2], ServerIp = [169, 254, 169, 254];
    private readonly List<byte[]> _sent = [];
    private readonly MetadataTcpResponder _tcp;

    private sealed class Echo : IMetadataResponder
    {
        public byte[] Respond(ReadOnlySpan<byte> request) =>
            Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n{new string('m', 3000)}");
    }

    public MetadataTcpResponderTests() => _tcp = new MetadataTcpResponder(new IPAddress(ServerIp), new Echo(), _sent.Add);

    private static byte[] Frame(ushort type, byte[] body)
    {
        var frame = new byte[14 + body.Length];
        MetadataTcpResponder.ServerMac.CopyTo(frame, 0);
        GuestMac.CopyTo(frame, 6);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), type);
        body.CopyTo(frame, 14);
        return frame;
    }

    private static byte[] Segment(ushort port, uint seq, uint ack, byte flags, byte[]? payload = null, byte[]? destination = null)
    {
        payload ??= [];
        var ip = new byte[40 + payload.Length];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), (ushort)ip.Length);
        ip[8] = 64;
        ip[9] = 6;
        GuestIp.CopyTo(ip, 12);
        (destination ?? ServerIp).CopyTo(ip, 16);
        var tcp = ip.AsSpan(20);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, port);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 80);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ack);
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        payload.CopyTo(tcp[20..]);
        return Frame(0x0800, ip);
    }

    /// <summary>Checks a sent TCP frame's addresses and checksums; returns (seq, ack, flags, payload).</summary>
    private static (uint Seq, uint Ack, byte Flags, byte[] Payload) Parse(byte[] frame)
    {
        Assert.Equal(GuestMac, frame[..6]);
        Assert.Equal(MetadataTcpResponder.ServerMac, frame[6..12]);
        var ip = frame.AsSpan(14);
        Assert.Equal(0, InternetChecksum.Finish(InternetChecksum.Add(0, ip[..20])));
        Assert.Equal(ServerIp, ip.Slice(12, 4).ToArray());
        Assert.Equal(GuestIp, ip.Slice(16, 4).ToArray());
        var tcp = ip[20..BinaryPrimitives.ReadUInt16BigEndian(ip[2..])];
        Assert.Equal(0, InternetChecksum.Tcp(ServerIp, GuestIp, tcp));
        int offset = (tcp[12] >> 4) * 4;
        return (BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]), BinaryPrimitives.ReadUInt32BigEndian(tcp[8..]), tcp[13], tcp[offset..].ToArray());
    }

    [Fact]
    public void An_ARP_request_for_the_metadata_address_is_answered_and_others_pass()
    {
        byte[] Arp(byte[] target)
        {
            var arp = new byte[28];
            BinaryPrimitives.WriteUInt16BigEndian(arp, 1);
            BinaryPrimitives.WriteUInt16BigEndian(arp.AsSpan(2), 0x0800);
            arp[4] = 6;
            arp[5] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(arp.AsSpan(6), 1);
            GuestMac.CopyTo(arp, 8);
            GuestIp.CopyTo(arp, 14);
            target.CopyTo(arp, 24);
            return Frame(0x0806, arp);
        }
        Assert.False(_tcp.Handle(Arp([10, 0, 0, 1])));
        Assert.Empty(_sent);
        Assert.True(_tcp.Handle(Arp(ServerIp)));
        var reply = Assert.Single(_sent);
        Assert.Equal(GuestMac, reply[..6]);
        Assert.Equal(2, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(20)));
        Assert.Equal(MetadataTcpResponder.ServerMac, reply[22..28]);
        Assert.Equal(ServerIp, reply[28..32]);
        Assert.Equal(GuestMac, reply[32..38]);
        Assert.Equal(GuestIp, reply[38..42]);
    }

    [Fact]
    public void A_request_is_answered_in_segments_then_FIN_and_the_guests_FIN_closes_the_connection()
    {
        Assert.True(_tcp.Handle(Segment(40000, 1000, 0, 0x02)));
        var (isn, synAck, flags, _) = Parse(_sent[^1]);
        Assert.Equal((0x12, 1001u), (flags, synAck));
        byte[] request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray();
        // The request in two pieces: the first is acknowledged, the second completes it.
        Assert.True(_tcp.Handle(Segment(40000, 1001, isn + 1, 0x10, request[..10])));
        Assert.Equal((0x10, 1011u), Parse(_sent[^1]) is var a ? (a.Flags, a.Ack) : default);
        int before = _sent.Count;
        Assert.True(_tcp.Handle(Segment(40000, 1011, isn + 1, 0x18, request[10..])));
        var answer = _sent.Skip(before).Select(Parse).ToArray();
        Assert.Equal(0x11, answer[^1].Flags);                                     // FIN after the data
        var data = answer[..^1];
        Assert.All(data, s => Assert.True(s.Payload.Length <= MetadataTcpResponder.SegmentSize));
        Assert.Equal(isn + 1, data[0].Seq);
        Assert.All(answer, s => Assert.Equal(1001u + (uint)request.Length, s.Ack));
        string text = Encoding.ASCII.GetString(data.SelectMany(s => s.Payload).ToArray());
        Assert.EndsWith(new string('m', 3000), text);
        Assert.Equal(1, _tcp.OpenConnections);
        Assert.True(_tcp.Handle(Segment(40000, 1001 + (uint)request.Length, answer[^1].Seq + 1, 0x11)));
        Assert.Equal(0, _tcp.OpenConnections);
    }

    [Fact]
    public void Segments_for_no_connection_are_reset_and_other_hosts_traffic_passes()
    {
        Assert.True(_tcp.Handle(Segment(40001, 5, 77, 0x10, [1, 2, 3])));
        var (seq, _, flags, _) = Parse(_sent[^1]);
        Assert.Equal((77u, (byte)0x04), (seq, flags));
        Assert.False(_tcp.Handle(Segment(40002, 5, 0, 0x02, destination: [10, 0, 0, 1])));
        Assert.False(_tcp.Handle([1, 2, 3]));
    }
}
