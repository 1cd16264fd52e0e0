using System.Net.Sockets;
using Sharpvisor.Machine.Devices.Virtio.Vsock;

namespace Sharpvisor.Machine.Devices.Virtio;

// Host -> guest: control packets owed to the guest first, then data read from the sockets, each into one receive
// chain; and the event queue's transport reset.
public sealed partial class VirtioVsock
{
    private const int OrphanResetCapacity = 64;
    private readonly (uint LocalPort, uint PeerPort)[] _orphanResets = new (uint, uint)[OrphanResetCapacity];
    private int _orphanResetCount;
    private int _receiveCursor;
    private bool _resetEventPending;
    // A receive chain popped but not yet filled (nothing was ready after all); used before popping another.
    private VirtqueueChain? _heldReceive;

    /// <summary>A RST for a packet that belongs to no connection; dropped when many are waiting (the guest times out).</summary>
    private void QueueOrphanReset(VsockHeader packet)
    {
        if (_orphanResetCount < OrphanResetCapacity) _orphanResets[_orphanResetCount++] = (packet.DestinationPort, packet.SourcePort);
    }

    private void ProcessReceive(IVirtioTransport transport)
    {
        var queue = transport.GetQueue(ReceiveQueue);
        if (!queue.Enabled) return;
        int pushed = 0;
        while (HasSomethingToSend())
        {
            var chain = TakeReceiveChain(queue);
            if (chain is null)
            {
                _receiveStarved = true;
                break;
            }
            if (chain.WritableLength < VsockHeader.Length)
                throw new VirtqueueException($"vsock receive chain {chain.Head} has {chain.WritableLength} writable bytes, less than a {VsockHeader.Length}-byte header");
            int written = FillReceiveChain(chain);
            if (written < 0)
            {
                _heldReceive = chain;
                continue; // what looked ready was not (a socket had nothing after all): look again
            }
            _heldReceive = null;
            queue.PushUsed(chain.Head, (uint)written);
            Interlocked.Increment(ref _packetsToGuest);
            pushed++;
        }
        if (pushed > 0) transport.NotifyUsed(ReceiveQueue);
    }

    private bool HasSomethingToSend()
    {
        if (_orphanResetCount > 0) return true;
        foreach (var connection in _connections)
            if (connection.OwesAnything || connection.Readable && connection.State == VsockConnectionState.Established) return true;
        return false;
    }

    private VirtqueueChain? TakeReceiveChain(Virtqueue queue)
    {
        if (_heldReceive is { } held) return held;
        if (queue.Pop() is { } chain) return chain;
        queue.RequestNotification();
        return queue.Pop();
    }

    /// <summary>Writes the next packet into <paramref name="chain"/>; its length, or -1 when nothing was ready.</summary>
    private int FillReceiveChain(VirtqueueChain chain)
    {
        if (_orphanResetCount > 0)
        {
            var (local, peer) = _orphanResets[--_orphanResetCount];
            Interlocked.Increment(ref _resetsSent);
            return WriteHeader(chain, local, peer, VsockHeader.OpReset, 0, 0, null);
        }
        int count = _connections.Count;
        for (int i = 0; i < count; i++)
        {
            var connection = _connections[(_receiveCursor + i) % count];
            if (connection.OwesAnything)
            {
                _receiveCursor = (_receiveCursor + i + 1) % count;
                return WriteControl(chain, connection);
            }
        }
        for (int i = 0; i < count; i++)
        {
            var connection = _connections[(_receiveCursor + i) % count];
            if (!connection.Readable || connection.State != VsockConnectionState.Established) continue;
            int written = ReadFromHost(chain, connection);
            if (written < 0) continue;
            _receiveCursor = (_receiveCursor + i + 1) % count;
            return written;
        }
        return -1;
    }

    private int WriteControl(VirtqueueChain chain, VsockConnection connection)
    {
        if (connection.State == VsockConnectionState.Closing)
        {
            Drop(connection);
            Interlocked.Increment(ref _resetsSent);
            return WriteHeader(chain, connection.LocalPort, connection.PeerPort, VsockHeader.OpReset, 0, 0, null);
        }
        ushort op;
        uint flags = 0;
        if (connection.OwesResponse)
        {
            connection.OwesResponse = false;
            op = VsockHeader.OpResponse;
        }
        else if (connection.OwesRequest)
        {
            connection.OwesRequest = false;
            op = VsockHeader.OpRequest;
        }
        else if (connection.OwedShutdownFlags != 0)
        {
            flags = connection.OwedShutdownFlags;
            connection.OwedShutdownFlags = 0;
            op = VsockHeader.OpShutdown;
        }
        else if (connection.OwesCreditRequest)
        {
            connection.OwesCreditRequest = false;
            op = VsockHeader.OpCreditRequest;
        }
        else
        {
            op = VsockHeader.OpCreditUpdate;
        }
        return WriteHeader(chain, connection.LocalPort, connection.PeerPort, op, flags, 0, connection);
    }

    /// <summary>
    /// Reads what the socket has, as much as the guest's credit and the chain allow, into a RW packet. EOF owes the guest
    /// SHUTDOWN SEND; a dead socket owes it RST. -1 when the socket had nothing (or the guest has no credit: then a
    /// credit request is owed once).
    /// </summary>
    private int ReadFromHost(VirtqueueChain chain, VsockConnection connection)
    {
        uint credit = connection.PeerCredit;
        if (credit == 0 || connection.HostSendClosed || connection.GuestReceiveClosed || connection.OwesResponse)
        {
            if (credit == 0 && !connection.CreditRequested && !connection.HostSendClosed)
            {
                connection.CreditRequested = true;
                connection.OwesCreditRequest = true;
                return WriteControl(chain, connection);
            }
            connection.Readable = false;
            return -1;
        }
        int room = (int)Math.Min(Math.Min(credit, chain.WritableLength - VsockHeader.Length), (ulong)MaxPayload);
        if (room == 0)
            throw new VirtqueueException($"vsock receive chain {chain.Head} has room for a header but no data ({chain.WritableLength} writable bytes)");
        int n = connection.Socket.Receive(_payload.AsSpan(0, room), SocketFlags.None, out var error);
        if (error == SocketError.WouldBlock)
        {
            connection.Readable = false;
            return -1;
        }
        if (error != SocketError.Success)
        {
            ResetConnection(connection);
            return WriteControl(chain, connection);
        }
        if (n == 0)
        {
            connection.Readable = false;
            connection.HostSendClosed = true;
            connection.OwedShutdownFlags |= VsockHeader.ShutdownSend;
            return WriteControl(chain, connection);
        }
        if (n < room) connection.Readable = false;
        chain.Write(VsockHeader.Length, _payload.AsSpan(0, n));
        connection.SentToGuest += (uint)n;
        Interlocked.Add(ref _bytesToGuest, n);
        return WriteHeader(chain, connection.LocalPort, connection.PeerPort, VsockHeader.OpReadWrite, 0, (uint)n, connection);
    }

    private int WriteHeader(VirtqueueChain chain, uint localPort, uint peerPort, ushort op, uint flags, uint payloadLength, VsockConnection? connection)
    {
        var header = new VsockHeader
        {
            SourceCid = HostCid, DestinationCid = GuestCid, SourcePort = localPort, DestinationPort = peerPort,
            PayloadLength = payloadLength, Type = VsockHeader.TypeStream, Op = op, Flags = flags,
        };
        if (connection is not null)
        {
            header.BufferAllocation = VsockConnection.BufferSize;
            header.ForwardCount = connection.ForwardedToHost;
            connection.LastAdvertisedForwardCount = connection.ForwardedToHost;
            connection.OwesCreditUpdate = false;
        }
        Span<byte> bytes = stackalloc byte[VsockHeader.Length];
        header.Write(bytes);
        chain.Write(0, bytes);
        return VsockHeader.Length + (int)payloadLength;
    }

    private void ProcessEvents(IVirtioTransport transport)
    {
        if (!_resetEventPending) return;
        var queue = transport.GetQueue(EventQueue);
        if (!queue.Enabled) return;
        var chain = queue.Pop();
        if (chain is null)
        {
            queue.RequestNotification();
            chain = queue.Pop();
            if (chain is null) return;
        }
        if (chain.WritableLength < 4)
            throw new VirtqueueException($"vsock event chain {chain.Head} has {chain.WritableLength} writable bytes, less than a 4-byte event");
        Span<byte> evt = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(evt, EventTransportReset);
        chain.Write(0, evt);
        queue.PushUsed(chain.Head, 4);
        _resetEventPending = false;
        transport.NotifyUsed(EventQueue);
    }
}
