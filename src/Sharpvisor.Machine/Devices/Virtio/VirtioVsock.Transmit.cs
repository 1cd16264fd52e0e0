using System.Net.Sockets;
using Sharpvisor.Machine.Devices.Virtio.Vsock;

namespace Sharpvisor.Machine.Devices.Virtio;

// Guest -> host: the transmit queue's packets.
public sealed partial class VirtioVsock
{
    private readonly byte[] _payload = new byte[MaxPayload];

    private void ProcessTransmit(IVirtioTransport transport)
    {
        var queue = transport.GetQueue(TransmitQueue);
        if (!queue.Enabled) return;
        int done = 0;
        do
        {
            while (queue.Pop() is { } chain)
            {
                HandleGuestPacket(chain);
                queue.PushUsed(chain.Head, 0);
                done++;
            }
            queue.RequestNotification();
        } while (queue.HasAvailable());
        if (done > 0) transport.NotifyUsed(TransmitQueue);
    }

    private void HandleGuestPacket(VirtqueueChain chain)
    {
        if (chain.ReadableLength < VsockHeader.Length)
            throw new VirtqueueException($"vsock transmit chain {chain.Head} has {chain.ReadableLength} readable bytes, no {VsockHeader.Length}-byte header");
        Span<byte> bytes = stackalloc byte[VsockHeader.Length];
        chain.Read(0, bytes);
        var header = VsockHeader.Read(bytes);
        if (header.PayloadLength > MaxPayload || header.PayloadLength > chain.ReadableLength - VsockHeader.Length)
            throw new VirtqueueException($"vsock transmit chain {chain.Head} announces a {header.PayloadLength}-byte payload in "
                                         + $"{chain.ReadableLength - VsockHeader.Length} bytes (at most {MaxPayload})");
        Interlocked.Increment(ref _packetsFromGuest);
        // A guest that forges its address, or talks to a CID other than the host's, is not answered.
        if (header.SourceCid != GuestCid || header.DestinationCid != HostCid) return;
        if (header.Type != VsockHeader.TypeStream)
        {
            if (header.Op != VsockHeader.OpReset) QueueOrphanReset(header);
            return;
        }
        ulong key = (ulong)header.DestinationPort << 32 | header.SourcePort;
        if (!_byKey.TryGetValue(key, out var connection))
        {
            if (header.Op == VsockHeader.OpRequest) AcceptGuestRequest(header);
            else if (header.Op != VsockHeader.OpReset) QueueOrphanReset(header);
            return;
        }
        if (connection.State == VsockConnectionState.Closing) return;
        connection.PeerBufferAllocation = header.BufferAllocation;
        connection.PeerForwardCount = header.ForwardCount;
        if (connection.PeerCredit > 0) connection.CreditRequested = false;
        switch (header.Op)
        {
            case VsockHeader.OpResponse when connection.State == VsockConnectionState.HostRequested:
                connection.State = VsockConnectionState.Established;
                Interlocked.Increment(ref _connectionsOpened);
                if (!SendOkLine(connection)) ResetConnection(connection);
                break;
            case VsockHeader.OpReadWrite when connection.State == VsockConnectionState.Established && !connection.GuestSendClosed:
                var data = _payload.AsSpan(0, (int)header.PayloadLength);
                chain.Read(VsockHeader.Length, data);
                Interlocked.Add(ref _bytesFromGuest, data.Length);
                if (!connection.Forward(data)) ResetConnection(connection);
                else AfterForward(connection);
                break;
            case VsockHeader.OpCreditUpdate:
                break;
            case VsockHeader.OpCreditRequest:
                connection.OwesCreditUpdate = true;
                break;
            case VsockHeader.OpShutdown:
                if ((header.Flags & VsockHeader.ShutdownSend) != 0) connection.GuestSendClosed = connection.HostWriteShutDown = true;
                if ((header.Flags & VsockHeader.ShutdownReceive) != 0) connection.GuestReceiveClosed = true;
                AfterForward(connection);
                break;
            case VsockHeader.OpReset:
                Drop(connection);
                break;
            default:
                // A second REQUEST, a RESPONSE or data out of turn, an unknown operation: the connection is over.
                ResetConnection(connection);
                break;
        }
    }

    /// <summary>
    /// After guest bytes reached the socket (or a SHUTDOWN came): a credit update once half our buffer was freed since
    /// the guest last heard our count, and, with nothing left to write, the socket's write side shut or the connection
    /// reset as the guest's shutdown asks.
    /// </summary>
    private void AfterForward(VsockConnection connection)
    {
        if (connection.State != VsockConnectionState.Established) return;
        if (connection.ForwardedToHost - connection.LastAdvertisedForwardCount >= VsockConnection.BufferSize / 2)
            connection.OwesCreditUpdate = true;
        if (connection.PendingCount > 0) return;
        if (connection.GuestSendClosed && connection.GuestReceiveClosed)
        {
            ResetConnection(connection);
            return;
        }
        if (connection.HostWriteShutDown)
        {
            connection.HostWriteShutDown = false;
            try
            {
                connection.Socket.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                ResetConnection(connection);
            }
        }
    }

    private void AcceptGuestRequest(VsockHeader request)
    {
        var socket = _connections.Count < MaxConnections ? VsockHostSockets.ConnectForGuest(_udsPath, request.DestinationPort) : null;
        if (socket is null)
        {
            QueueOrphanReset(request);
            return;
        }
        AddConnection(new VsockConnection(socket, VsockConnectionState.Established)
        {
            LocalPort = request.DestinationPort, PeerPort = request.SourcePort, PeerBufferAllocation = request.BufferAllocation,
            PeerForwardCount = request.ForwardCount, OwesResponse = true,
        });
    }

    // "OK <hostport>\n" tells the host program the guest accepted; the socket is new, so it takes the few bytes at once.
    private static bool SendOkLine(VsockConnection connection)
    {
        Span<byte> line = stackalloc byte[16];
        "OK "u8.CopyTo(line);
        connection.LocalPort.TryFormat(line[3..], out int digits);
        line[3 + digits] = (byte)'\n';
        int length = 4 + digits;
        int sent = connection.Socket.Send(line[..length], SocketFlags.None, out var error);
        return error == SocketError.Success && sent == length;
    }
}
