using System.Net.Sockets;

namespace Sharpvisor.Machine.Devices.Virtio.Vsock;

/// <summary>Where a <see cref="VsockConnection"/> is in its life.</summary>
public enum VsockConnectionState
{
    /// <summary>Accepted on the device's socket; the host has not finished its "CONNECT port" line.</summary>
    AwaitingConnectLine,
    /// <summary>The device sent the guest a REQUEST for the host and waits for its RESPONSE.</summary>
    HostRequested,
    Established,
    /// <summary>A RST is queued for the guest; the connection goes once it is sent.</summary>
    Closing,
}

/// <summary>
/// One stream between a guest port and a host unix socket, with both directions' credit (virtio 1.x section
/// 5.10.6.3): what the guest may still send us (our buffer, <see cref="BufferSize"/>, less what is not yet written to
/// the socket) and what we may still send it (its buf_alloc less what it has not consumed). Guest data the socket
/// does not take at once waits in a ring of <see cref="BufferSize"/> bytes, made on first need. Owned by the device's
/// loop thread.
/// </summary>
public sealed class VsockConnection(Socket socket, VsockConnectionState state)
{
    /// <summary>Our buf_alloc: guest bytes we hold for a socket that is slow to take them (Firecracker's size).</summary>
    public const int BufferSize = 256 * 1024;

    public Socket Socket { get; } = socket;
    public VsockConnectionState State { get; set; } = state;
    /// <summary>The host side's port (what the guest sees as the peer's port), and the guest's.</summary>
    public uint LocalPort { get; set; }
    public uint PeerPort { get; set; }
    public ulong Key => (ulong)LocalPort << 32 | PeerPort;

    /// <summary>Bytes of the "CONNECT port\n" line read so far.</summary>
    public byte[]? ConnectLine { get; set; }
    public int ConnectLineLength { get; set; }

    // Guest -> host: counts in the header's wrapping 32-bit arithmetic.
    public uint ReceivedFromGuest { get; set; }
    public uint ForwardedToHost { get; set; }
    public uint LastAdvertisedForwardCount { get; set; }
    private byte[]? _pending;
    private int _pendingStart, _pendingCount;
    public int PendingCount => _pendingCount;

    // Host -> guest.
    public uint PeerBufferAllocation { get; set; }
    public uint PeerForwardCount { get; set; }
    public uint SentToGuest { get; set; }
    /// <summary>Bytes the guest can take now; 0 when it has fallen behind (or lied about its counts).</summary>
    public uint PeerCredit
    {
        get
        {
            uint inFlight = SentToGuest - PeerForwardCount;
            return inFlight >= PeerBufferAllocation ? 0 : PeerBufferAllocation - inFlight;
        }
    }
    public bool CreditRequested { get; set; }

    // Packets owed to the guest, sent in this order when it has receive buffers.
    public bool OwesResponse { get; set; }
    public bool OwesRequest { get; set; }
    public bool OwesCreditUpdate { get; set; }
    public bool OwesCreditRequest { get; set; }
    /// <summary>SHUTDOWN flags owed to the guest (0: none).</summary>
    public uint OwedShutdownFlags { get; set; }

    /// <summary>The host will send no more (its socket read end saw EOF); the guest will send no more, or take no more.</summary>
    public bool HostSendClosed { get; set; }
    public bool GuestSendClosed { get; set; }
    public bool GuestReceiveClosed { get; set; }
    /// <summary>Shut the socket's write side once the pending bytes are written (the guest sent SHUTDOWN SEND).</summary>
    public bool HostWriteShutDown { get; set; }

    /// <summary>The connection was dropped; the loop skips what poll said of it.</summary>
    public bool Closed { get; set; }

    /// <summary>Set by the loop from poll: the socket has bytes (or EOF) to read, or room to write.</summary>
    public bool Readable { get; set; }
    public bool Writable { get; set; }

    public bool OwesAnything => OwesResponse || OwesRequest || OwesCreditUpdate || OwesCreditRequest || OwedShutdownFlags != 0 || State == VsockConnectionState.Closing;

    /// <summary>Writes guest bytes to the socket, queuing what it does not take; false if the socket failed.</summary>
    public bool Forward(ReadOnlySpan<byte> data)
    {
        ReceivedFromGuest += (uint)data.Length;
        if (_pendingCount == 0)
        {
            int sent = Send(data);
            if (sent < 0) return false;
            ForwardedToHost += (uint)sent;
            data = data[sent..];
        }
        if (data.IsEmpty) return true;
        if (data.Length > BufferSize - _pendingCount) return false; // the guest sent beyond the credit we gave
        _pending ??= new byte[BufferSize];
        int tail = (_pendingStart + _pendingCount) % BufferSize;
        int first = Math.Min(data.Length, BufferSize - tail);
        data[..first].CopyTo(_pending.AsSpan(tail));
        data[first..].CopyTo(_pending);
        _pendingCount += data.Length;
        return true;
    }

    /// <summary>Writes what waits in the ring as far as the socket takes it; false if the socket failed.</summary>
    public bool Flush()
    {
        while (_pendingCount > 0)
        {
            int chunk = Math.Min(_pendingCount, BufferSize - _pendingStart);
            int sent = Send(_pending.AsSpan(_pendingStart, chunk));
            if (sent < 0) return false;
            if (sent == 0) return true;
            ForwardedToHost += (uint)sent;
            _pendingStart = (_pendingStart + sent) % BufferSize;
            _pendingCount -= sent;
        }
        return true;
    }

    /// <summary>Bytes written, 0 if the socket is full, -1 if it failed.</summary>
    private int Send(ReadOnlySpan<byte> data)
    {
        int sent = Socket.Send(data, SocketFlags.None, out var error);
        return error switch
        {
            SocketError.Success => sent,
            SocketError.WouldBlock => 0,
            _ => -1,
        };
    }
}
