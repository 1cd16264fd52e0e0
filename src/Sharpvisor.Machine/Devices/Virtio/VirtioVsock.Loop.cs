using System.Net.Sockets;
using Sharpvisor.Machine.Devices.Virtio.Vsock;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Machine.Devices.Virtio;

// The device's thread: poll(2) over the wake eventfd, the listening socket and the connections that want something,
// then one round of work under the lock.
public sealed partial class VirtioVsock
{
    private readonly List<VsockConnection> _connections = [];
    private readonly Dictionary<ulong, VsockConnection> _byKey = [];
    private readonly Libc.PollDescriptor[] _poll = new Libc.PollDescriptor[MaxConnections + 2];
    private readonly VsockConnection?[] _polled = new VsockConnection?[MaxConnections + 2];
    private volatile bool _receiveStarved;
    private uint _nextHostPort = FirstHostPort;

    private void Loop()
    {
        while (!_disposed)
        {
            int count;
            lock (_lock) count = BuildPollSet();
            if (!WaitForEvents(count)) return;
            if (_disposed) return;
            DrainWake();
            lock (_lock)
            {
                if (_paused || _transport is not { IsBroken: false } transport) continue;
                try
                {
                    NoteEvents(count);
                    ProcessTransmit(transport);
                    if ((_poll[1].ReturnedEvents & Libc.PollIn) != 0 && count > 1) AcceptHostConnections();
                    ServiceSockets();
                    ProcessReceive(transport);
                    ProcessEvents(transport);
                }
                catch (VirtqueueException e)
                {
                    transport.MarkBroken(e.Message);
                }
                catch (Exception e)
                {
                    // Nothing may leave the device's thread; a failure we did not foresee stops the device, not the VMM.
                    _log?.Invoke($"virtio-vsock: unexpected {e.GetType().Name}: {e.Message}");
                    transport.MarkBroken($"internal error: {e.Message}");
                }
            }
        }
    }

    // Caller holds _lock. Only the eventfd while the device is idle; otherwise the listener and each connection with
    // something to wait for (a connection waiting for nothing is left out, so a hung-up socket cannot spin the loop).
    private int BuildPollSet()
    {
        _poll[0] = new Libc.PollDescriptor { Fd = _wakeFd, Events = Libc.PollIn };
        if (_paused || _transport is not { IsBroken: false }) return 1;
        _poll[1] = new Libc.PollDescriptor { Fd = FdOf(_listener), Events = _connections.Count < MaxConnections ? Libc.PollIn : (short)0 };
        int count = 2;
        foreach (var connection in _connections)
        {
            short events = 0;
            if (connection.State == VsockConnectionState.Closing) continue;
            if (connection.PendingCount > 0) events |= Libc.PollOut;
            if (WantsToRead(connection)) events |= Libc.PollIn;
            if (events == 0) continue;
            _polled[count] = connection;
            _poll[count++] = new Libc.PollDescriptor { Fd = FdOf(connection.Socket), Events = events };
        }
        return count;
    }

    private bool WantsToRead(VsockConnection connection) => connection.State switch
    {
        VsockConnectionState.AwaitingConnectLine => true,
        VsockConnectionState.Established => !_receiveStarved && !connection.HostSendClosed && !connection.GuestReceiveClosed
                                            && !connection.OwesResponse && connection.PeerCredit > 0,
        _ => false,
    };

    private unsafe bool WaitForEvents(int count)
    {
        fixed (Libc.PollDescriptor* descriptors = _poll)
        {
            while (Libc.poll(descriptors, (nuint)count, -1) < 0)
            {
                int errno = Libc.LastError;
                if (errno == 4) continue; // EINTR
                _log?.Invoke($"virtio-vsock: poll failed, the device stops: {Libc.Describe(errno)}");
                return false;
            }
        }
        return true;
    }

    private unsafe void DrainWake()
    {
        ulong value;
        Libc.read(_wakeFd, (byte*)&value, sizeof(ulong));
    }

    // Caller holds _lock. A connection dropped meanwhile (a reset from another thread) is skipped.
    private void NoteEvents(int count)
    {
        for (int i = 2; i < count; i++)
        {
            var connection = _polled[i]!;
            _polled[i] = null;
            short returned = _poll[i].ReturnedEvents;
            if (connection.Closed || returned == 0) continue;
            const short failed = Libc.PollErr | Libc.PollHup | Libc.PollNval;
            connection.Readable = (returned & (Libc.PollIn | failed)) != 0 && (_poll[i].Events & Libc.PollIn) != 0;
            connection.Writable = (returned & (Libc.PollOut | failed)) != 0 && (_poll[i].Events & Libc.PollOut) != 0;
        }
    }

    private void AcceptHostConnections()
    {
        while (_connections.Count < MaxConnections)
        {
            Socket socket;
            try
            {
                socket = _listener.Accept();
            }
            catch (SocketException)
            {
                return; // nothing more waiting (EAGAIN), or a client that gave up meanwhile
            }
            socket.Blocking = false;
            _connections.Add(new VsockConnection(socket, VsockConnectionState.AwaitingConnectLine));
        }
    }

    // Flushes what waits for writable sockets and reads host programs' CONNECT lines.
    private void ServiceSockets()
    {
        for (int i = _connections.Count - 1; i >= 0; i--)
        {
            var connection = _connections[i];
            if (connection.Writable)
            {
                connection.Writable = false;
                if (!connection.Flush()) ResetConnection(connection);
                else AfterForward(connection);
            }
            if (connection.State == VsockConnectionState.AwaitingConnectLine && connection.Readable)
            {
                connection.Readable = false;
                ReadConnectLine(connection);
            }
        }
    }

    private void ReadConnectLine(VsockConnection connection)
    {
        connection.ConnectLine ??= new byte[32];
        Span<byte> one = stackalloc byte[1];
        while (true)
        {
            int n = connection.Socket.Receive(one, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock) return;
            if (error != SocketError.Success || n == 0 || connection.ConnectLineLength == connection.ConnectLine.Length)
            {
                Drop(connection);
                return;
            }
            if (one[0] != (byte)'\n')
            {
                connection.ConnectLine[connection.ConnectLineLength++] = one[0];
                continue;
            }
            if (!TryParseConnectLine(connection.ConnectLine.AsSpan(0, connection.ConnectLineLength), out uint port))
            {
                Drop(connection);
                return;
            }
            connection.ConnectLine = null;
            connection.LocalPort = AllocateHostPort();
            connection.PeerPort = port;
            connection.State = VsockConnectionState.HostRequested;
            connection.OwesRequest = true;
            _byKey[connection.Key] = connection;
            return;
        }
    }

    /// <summary>"CONNECT port", the port a decimal 32-bit number (a trailing carriage return is allowed).</summary>
    public static bool TryParseConnectLine(ReadOnlySpan<byte> line, out uint port)
    {
        port = 0;
        if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
        ReadOnlySpan<byte> prefix = "CONNECT "u8;
        if (!line.StartsWith(prefix)) return false;
        var digits = line[prefix.Length..];
        if (digits.IsEmpty || digits.Length > 10) return false;
        ulong value = 0;
        foreach (byte b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9') return false;
            value = value * 10 + (uint)(b - '0');
        }
        if (value > uint.MaxValue) return false;
        port = (uint)value;
        return true;
    }

    private uint AllocateHostPort()
    {
        while (true)
        {
            uint port = _nextHostPort;
            _nextHostPort = _nextHostPort == uint.MaxValue ? FirstHostPort : _nextHostPort + 1;
            bool used = false;
            foreach (var c in _connections)
                if (c.LocalPort == port && c.State != VsockConnectionState.AwaitingConnectLine) used = true;
            if (!used) return port;
        }
    }

    private void AddConnection(VsockConnection connection)
    {
        _connections.Add(connection);
        _byKey[connection.Key] = connection;
        Interlocked.Increment(ref _connectionsOpened);
    }

    /// <summary>Closes the socket at once and owes the guest a RST; the connection goes once that is sent.</summary>
    private void ResetConnection(VsockConnection connection)
    {
        connection.Socket.Dispose();
        connection.State = VsockConnectionState.Closing;
    }

    /// <summary>Closes the socket and forgets the connection (the guest already knows it is gone, or never knew it).</summary>
    private void Drop(VsockConnection connection)
    {
        connection.Socket.Dispose();
        connection.Closed = true;
        _connections.Remove(connection);
        if (_byKey.TryGetValue(connection.Key, out var keyed) && keyed == connection) _byKey.Remove(connection.Key);
    }

    private void DropAllConnections()
    {
        foreach (var connection in _connections)
        {
            connection.Socket.Dispose();
            connection.Closed = true;
        }
        _connections.Clear();
        _byKey.Clear();
        _orphanResetCount = 0;
        _heldReceive = null;
    }

    private static int FdOf(Socket socket) => (int)socket.SafeHandle.DangerousGetHandle();
}
