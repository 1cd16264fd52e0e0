using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Networking.Mmds;

/// <summary>
/// The guest side of the metadata service inside the VMM, as small as a guest's HTTP client needs: ARP replies for
/// the metadata address (from <see cref="ServerMac"/>), and TCP on port 80 with one request per connection: SYN is
/// answered with SYN-ACK, the request is acknowledged as it comes, and once whole it is answered, followed by FIN.
/// Nothing is retransmitted (the frames go straight into the guest's receive queue, which loses none); segments out of
/// order are answered with the acknowledgement the guest should resend from. Anything else sent to the address is
/// dropped, so none of it reaches the tap. Used from one thread (the device's transmit thread).
/// </summary>
public sealed class MetadataTcpResponder
{
    /// <summary>The MAC address the metadata service answers from (Firecracker's).</summary>
    public static readonly byte[] ServerMac = [0x06, 0x01, 0x23, 0x45, 0x67, 0x01];
    public const ushort HttpPort = 80;
    public const int MaxConnections = 30, SegmentSize = 1460, MaxRequest = 64 * 1024;
    private const byte Fin = 1, Syn = 2, Rst = 4, Psh = 8, Ack = 16;
    private const int EthernetHeader = 14, IpHeader = 20, TcpHeader = 20;

    private readonly byte[] _address;
    private readonly IMetadataResponder _responder;
    private readonly Action<byte[]> _toGuest;
    private readonly Dictionary<(uint Address, ushort Port), Connection> _connections = [];
    private readonly Queue<(uint Address, ushort Port)> _age = new();
    private ushort _ipId;

    private sealed class Connection
    {
        public required byte[] GuestMac, GuestAddress;
        public ushort GuestPort;
        public uint Sequence, ReceiveNext;
        public readonly MemoryStream Request = new();
        public bool Responded;
    }

    /// <param name="toGuest">Takes each frame for the guest (whole Ethernet frames); called on the caller's thread.</param>
    public MetadataTcpResponder(System.Net.IPAddress address, IMetadataResponder responder, Action<byte[]> toGuest)
    {
        _address = address.GetAddressBytes();
        _responder = responder;
        _toGuest = toGuest;
    }

    public int OpenConnections => _connections.Count;

    /// <summary>Whether <paramref name="frame"/> was for the metadata service (then it is handled and must not go further).</summary>
    public bool Handle(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < EthernetHeader) return false;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        if (type == 0x0806) return HandleArp(frame);
        if (type != 0x0800 || frame.Length < EthernetHeader + IpHeader) return false;
        var ip = frame[EthernetHeader..];
        if (ip[0] >> 4 != 4 || !ip.Slice(16, 4).SequenceEqual(_address)) return false;
        int headerLength = (ip[0] & 15) * 4, total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (headerLength < IpHeader || total < headerLength || total > ip.Length || ip[9] != 6) return true;
        if ((BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3FFF) != 0) return true;   // a fragment: never from our clients
        var tcp = ip[headerLength..total];
        if (tcp.Length >= TcpHeader) HandleTcp(frame.Slice(6, 6), ip.Slice(12, 4), tcp);
        return true;
    }

    private bool HandleArp(ReadOnlySpan<byte> frame)
    {
        var arp = frame[EthernetHeader..];
        if (arp.Length < 28 || BinaryPrimitives.ReadUInt16BigEndian(arp[2..]) != 0x0800 || !arp.Slice(24, 4).SequenceEqual(_address)) return false;
        if (BinaryPrimitives.ReadUInt16BigEndian(arp) != 1 || arp[4] != 6 || arp[5] != 4) return true;
        if (BinaryPrimitives.ReadUInt16BigEndian(arp[6..]) != 1) return true;                  // only requests are answered
        var reply = new byte[EthernetHeader + 28];
        arp.Slice(8, 6).CopyTo(reply);                                                        // to the asker
        ServerMac.CopyTo(reply, 6);
        BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(12), 0x0806);
        var body = reply.AsSpan(EthernetHeader);
        arp[..6].CopyTo(body);                                                               // htype, ptype, hlen, plen
        BinaryPrimitives.WriteUInt16BigEndian(body[6..], 2);
        ServerMac.CopyTo(body[8..]);
        _address.CopyTo(body[14..]);
        arp.Slice(8, 10).CopyTo(body[18..]);                                                 // the asker's MAC and address
        _toGuest(reply);
        return true;
    }

    private void HandleTcp(ReadOnlySpan<byte> guestMac, ReadOnlySpan<byte> guestAddress, ReadOnlySpan<byte> tcp)
    {
        ushort sourcePort = BinaryPrimitives.ReadUInt16BigEndian(tcp), destinationPort = BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]);
        uint sequence = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]), acknowledged = BinaryPrimitives.ReadUInt32BigEndian(tcp[8..]);
        int dataOffset = (tcp[12] >> 4) * 4;
        byte flags = tcp[13];
        if (dataOffset < TcpHeader || dataOffset > tcp.Length) return;
        var payload = tcp[dataOffset..];
        var key = (BinaryPrimitives.ReadUInt32BigEndian(guestAddress), sourcePort);
        if ((flags & Rst) != 0)
        {
            _connections.Remove(key);
            return;
        }
        var connection = _connections.GetValueOrDefault(key);
        if (connection is null || destinationPort != HttpPort)
        {
            if ((flags & (Syn | Ack)) == Syn && destinationPort == HttpPort) Open(key, guestMac, guestAddress, sourcePort, sequence);
            else Reset(guestMac, guestAddress, sourcePort, destinationPort, sequence, acknowledged, flags, payload.Length);
            return;
        }
        if ((flags & Syn) != 0)
        {
            Send(connection, Syn | Ack, connection.Sequence - 1, [], withMss: true);    // our SYN-ACK was lost on the way
            return;
        }
        bool fin = (flags & Fin) != 0;
        if (payload.IsEmpty && !fin) return;                                           // a bare ACK: nothing is retransmitted
        if (sequence != connection.ReceiveNext)
        {
            Send(connection, Ack, connection.Sequence, []);
            return;
        }
        connection.ReceiveNext += (uint)payload.Length + (fin ? 1u : 0u);
        if (!connection.Responded)
        {
            if (connection.Request.Length + payload.Length > MaxRequest)
            {
                Reset(guestMac, guestAddress, sourcePort, destinationPort, sequence, acknowledged, Ack, payload.Length);
                _connections.Remove(key);
                return;
            }
            connection.Request.Write(payload);
            if (MetadataHttpFraming.IsComplete(connection.Request.GetBuffer().AsSpan(0, (int)connection.Request.Length)) || fin)
            {
                Respond(connection);
                if (fin) _connections.Remove(key);
                return;
            }
        }
        Send(connection, Ack, connection.Sequence, []);
        if (fin) _connections.Remove(key);
    }

    private void Open((uint, ushort) key, ReadOnlySpan<byte> guestMac, ReadOnlySpan<byte> guestAddress, ushort port, uint sequence)
    {
        while (_connections.Count >= MaxConnections && _age.TryDequeue(out var oldest)) _connections.Remove(oldest);
        var connection = new Connection
        {
            GuestMac = guestMac.ToArray(), GuestAddress = guestAddress.ToArray(), GuestPort = port,
            Sequence = (uint)Random.Shared.NextInt64(), ReceiveNext = sequence + 1,
        };
        _connections[key] = connection;
        _age.Enqueue(key);
        Send(connection, Syn | Ack, connection.Sequence, [], withMss: true);
        connection.Sequence++;
    }

    // The whole answer in segments, then FIN: one request per connection.
    private void Respond(Connection connection)
    {
        connection.Responded = true;
        var request = connection.Request.GetBuffer().AsSpan(0, (int)connection.Request.Length);
        byte[] response = request.Length == 0 ? [] : _responder.Respond(request);
        for (int at = 0; at < response.Length; at += SegmentSize)
        {
            int length = Math.Min(SegmentSize, response.Length - at);
            Send(connection, Ack | Psh, connection.Sequence, response.AsSpan(at, length));
            connection.Sequence += (uint)length;
        }
        Send(connection, Fin | Ack, connection.Sequence, []);
        connection.Sequence++;
    }

    // RFC 793's reset for a segment that belongs to no connection.
    private void Reset(ReadOnlySpan<byte> guestMac, ReadOnlySpan<byte> guestAddress, ushort guestPort, ushort ourPort,
        uint sequence, uint acknowledged, byte flags, int length)
    {
        var stranger = new Connection { GuestMac = guestMac.ToArray(), GuestAddress = guestAddress.ToArray(), GuestPort = guestPort };
        if ((flags & Ack) != 0)
        {
            Send(stranger, Rst, acknowledged, [], sourcePort: ourPort);
            return;
        }
        stranger.ReceiveNext = sequence + (uint)length + ((flags & Syn) != 0 ? 1u : 0u) + ((flags & Fin) != 0 ? 1u : 0u);
        Send(stranger, Rst | Ack, 0, [], sourcePort: ourPort);
    }

    private void Send(Connection connection, byte flags, uint sequence, ReadOnlySpan<byte> payload, bool withMss = false,
        ushort sourcePort = HttpPort)
    {
        int tcpLength = TcpHeader + (withMss ? 4 : 0) + payload.Length;
        var frame = new byte[EthernetHeader + IpHeader + tcpLength];
        var span = frame.AsSpan();
        connection.GuestMac.CopyTo(span);
        ServerMac.CopyTo(span[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(span[12..], 0x0800);

        var ip = span.Slice(EthernetHeader, IpHeader);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(IpHeader + tcpLength));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], _ipId++);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000);          // don't fragment
        ip[8] = 64;
        ip[9] = 6;
        _address.CopyTo(ip[12..]);
        connection.GuestAddress.CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Finish(InternetChecksum.Add(0, ip)));

        var tcp = span[(EthernetHeader + IpHeader)..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], connection.GuestPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], (flags & Ack) != 0 ? connection.ReceiveNext : 0);
        tcp[12] = (byte)((TcpHeader + (withMss ? 4 : 0)) / 4 << 4);
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 65535);          // window
        if (withMss)
        {
            tcp[20] = 2;
            tcp[21] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(tcp[22..], SegmentSize);
        }
        payload.CopyTo(tcp[(TcpHeader + (withMss ? 4 : 0))..]);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], InternetChecksum.Tcp(_address, connection.GuestAddress, tcp));
        _toGuest(frame);
    }
}
