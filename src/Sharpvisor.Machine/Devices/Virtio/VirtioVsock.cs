using System.Buffers.Binary;
using System.Net.Sockets;
using Sharpvisor.Machine.Devices.State;
using Sharpvisor.Machine.Devices.Virtio.Vsock;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// virtio-vsock (virtio 1.x section 5.10, device ID 19) with Firecracker's host side (<see cref="VsockHostSockets"/>):
/// stream sockets only, a receive, a transmit and an event queue, the guest's CID in the configuration. Host programs
/// connect to <c>uds_path</c> and write <c>CONNECT port\n</c>, answered <c>OK hostport\n</c> once the guest accepts;
/// a guest connecting to host port P reaches the unix socket <c>uds_path_P</c>. Both directions keep the spec's
/// credit-based flow control (<see cref="VsockConnection"/>).
/// <para>
/// One thread serves everything: the queues, the listening socket and every connection's socket, waiting in poll(2)
/// on them and an eventfd the vCPUs' notifications write. A malformed chain or header (too short, a payload longer
/// than its buffers or than 64 KiB) is a broken protocol: DEVICE_NEEDS_RESET. A well-formed packet the device cannot
/// honour (an unknown operation or socket type, data for no connection) is answered with RST, as Linux's host side
/// does. While the VM is paused (<see cref="PauseProcessing"/>) the thread touches neither the queues nor guest memory.
/// </para>
/// </summary>
public sealed partial class VirtioVsock : IVirtioDevice, IStatefulDevice<VirtioVsockState>, IVirtioBackgroundWork, IDisposable
{
    public const int ReceiveQueue = 0, TransmitQueue = 1, EventQueue = 2;
    public const ushort QueueSize = 256;
    public const ulong HostCid = 2;
    /// <summary>CIDs 0-2 are reserved (hypervisor, local, host); the header carries 64 bits but Linux uses 32.</summary>
    public const ulong FirstGuestCid = 3, LastGuestCid = uint.MaxValue - 1;
    public const int MaxConnections = 1023;
    public const int MaxPayload = 64 * 1024;
    /// <summary>Host ports given to host-initiated connections start here (as in Firecracker), away from well-known ones.</summary>
    public const uint FirstHostPort = 1u << 30;
    public const uint EventTransportReset = 0;
    public const int ConfigLength = 8;

    private readonly string _udsPath;
    private readonly Socket _listener;
    private readonly Action<string>? _log;
    private readonly Lock _lock = new();
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private volatile bool _disposed, _paused;
    private IVirtioTransport? _transport;
    private ulong _guestCid;

    private long _packetsFromGuest, _packetsToGuest, _bytesFromGuest, _bytesToGuest, _connectionsOpened, _resetsSent;

    /// <param name="udsPath">The unix socket host programs connect to; guest connections go to <c>udsPath_PORT</c>.</param>
    public VirtioVsock(ulong guestCid, string udsPath, Action<string>? log = null)
    {
        if (guestCid is < FirstGuestCid or > LastGuestCid)
            throw new ArgumentOutOfRangeException(nameof(guestCid), $"a guest CID is {FirstGuestCid} to {LastGuestCid}, not {guestCid}");
        ArgumentException.ThrowIfNullOrEmpty(udsPath);
        _guestCid = guestCid;
        _udsPath = udsPath;
        _log = log;
        _listener = VsockHostSockets.Listen(udsPath);
        _wakeFd = Libc.eventfd(0, Libc.EfdCloExec | Libc.EfdNonBlock);
        if (_wakeFd < 0)
        {
            _listener.Dispose();
            File.Delete(udsPath);
            throw new IOException($"eventfd failed: {Libc.LastErrorText()}");
        }
        _thread = new Thread(Loop) { IsBackground = true, Name = $"virtio-vsock {udsPath}" };
        _thread.Start();
    }

    public ulong GuestCid => Volatile.Read(ref _guestCid);
    public string UdsPath => _udsPath;
    public long PacketsFromGuest => Interlocked.Read(ref _packetsFromGuest);
    public long PacketsToGuest => Interlocked.Read(ref _packetsToGuest);
    /// <summary>Payload bytes carried in each direction.</summary>
    public long BytesFromGuest => Interlocked.Read(ref _bytesFromGuest);
    public long BytesToGuest => Interlocked.Read(ref _bytesToGuest);
    public long ConnectionsOpened => Interlocked.Read(ref _connectionsOpened);
    public long ResetsSent => Interlocked.Read(ref _resetsSent);

    public ushort DeviceType => VirtioDeviceType.Socket;
    public uint PciClassCode => 0x07_80_00;          // other communication controller
    public ulong DeviceFeatures => 0;                // stream sockets only: no SEQPACKET
    public int QueueCount => 3;
    public ushort MaxQueueSize => QueueSize;
    public int ConfigSize => ConfigLength;

    public void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[ConfigLength];
        BinaryPrimitives.WriteUInt64LittleEndian(config, GuestCid);
        config.Slice(offset, data.Length).CopyTo(data);
    }

    // The configuration is read-only to the driver.
    public void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    public void Activate(IVirtioTransport transport)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_lock)
        {
            _transport = transport;
            _receiveStarved = false;
        }
        Wake();
    }

    public void QueueNotified(int queueIndex)
    {
        if (queueIndex == ReceiveQueue) _receiveStarved = false;
        if (!_disposed) Wake();
    }

    /// <summary>The driver reset the device: every connection goes (the guest's sockets were reset with it).</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _transport = null;
            _resetEventPending = false;
            DropAllConnections();
        }
        Wake();
    }

    public void PauseProcessing()
    {
        lock (_lock) _paused = true;
    }

    public void ResumeProcessing()
    {
        _paused = false;
        Wake();
    }

    /// <summary>Its key under its transport, which saves the queues and restores before it.</summary>
    public string StateKey => "virtio-vsock";

    public VirtioVsockState SaveState() => new() { GuestCid = GuestCid };

    /// <summary>
    /// Takes the CID the guest's driver read, drops every connection and queues a transport reset event, so the guest
    /// resets its sockets (Firecracker's behaviour on restore).
    /// </summary>
    public void RestoreState(VirtioVsockState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.GuestCid is < FirstGuestCid or > LastGuestCid)
            throw new ArgumentException($"virtio-vsock state has guest CID {state.GuestCid}, outside {FirstGuestCid}-{LastGuestCid}", nameof(state));
        lock (_lock)
        {
            Volatile.Write(ref _guestCid, state.GuestCid);
            DropAllConnections();
            _resetEventPending = true;
        }
        Wake();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Wake();
        _thread.Join();
        lock (_lock)
        {
            _transport = null;
            DropAllConnections();
        }
        _listener.Dispose();
        try
        {
            File.Delete(_udsPath);
        }
        catch (IOException e)
        {
            _log?.Invoke($"virtio-vsock: cannot remove {_udsPath}: {e.Message}");
        }
        Libc.close(_wakeFd);
    }

    private unsafe void Wake()
    {
        ulong one = 1;
        Libc.write(_wakeFd, (byte*)&one, sizeof(ulong));
    }
}
