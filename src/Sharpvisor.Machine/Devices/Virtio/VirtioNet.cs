using System.Buffers.Binary;
using System.Globalization;
using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// virtio-net (virtio 1.x section 5.1) in front of an <see cref="IVirtioNetBackend"/>: one receive and one transmit
/// queue, the MAC address and link status in the configuration, an MTU of 1500. No checksum or segmentation offload is
/// offered, so every frame's virtio-net header (12 bytes with VERSION_1) carries no requests: on transmit it is
/// skipped, on receive it is written as "nothing to do" with num_buffers = 1. Without mergeable receive buffers a
/// received frame must fit one buffer chain; Linux posts 1518-byte buffers for a 1500-byte MTU.
/// <para>
/// Transmission runs on the device's own thread: a notification wakes it, it sends every available chain to the
/// backend and interrupts the driver once for the batch. Reception runs on the backend's reader thread, which blocks
/// in <see cref="Deliver"/> while the driver has no buffers posted and interrupts the driver once per batch of frames
/// (<see cref="EndOfBatch"/>). While the VM is paused (<see cref="PauseProcessing"/>) neither touches the queues or
/// guest memory, so a snapshot sees them still.
/// </para>
/// </summary>
public sealed class VirtioNet : IVirtioDevice, IStatefulDevice<VirtioNetState>, IVirtioNetReceiver, IVirtioBackgroundWork, IDisposable
{
    public const int ReceiveQueue = 0, TransmitQueue = 1;
    public const ushort QueueSize = 256;
    public const ulong FeatureMtu = 1UL << 3, FeatureMac = 1UL << 5, FeatureStatus = 1UL << 16;
    public const ushort StatusLinkUp = 1;
    /// <summary>struct virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers.</summary>
    public const int HeaderLength = 12;
    public const int MacLength = 6, EthernetHeaderLength = 14;
    public const ushort Mtu = 1500;
    /// <summary>Largest frame the device passes on; anything longer cannot be a legal frame at this MTU either way.</summary>
    public const int MaxFrameLength = 65535;
    /// <summary>mac[6], status, max_virtqueue_pairs, mtu.</summary>
    public const int ConfigLength = 12;

    private readonly IVirtioNetBackend _backend;
    private readonly byte[] _mac = new byte[MacLength];
    private readonly byte[] _transmitFrame = new byte[MaxFrameLength];
    // Lock order: _receiveLock, then _transmitLock. Each is held while its path touches its queue.
    private readonly Lock _receiveLock = new();
    private readonly Lock _transmitLock = new();
    private readonly AutoResetEvent _transmitWork = new(false);
    private readonly AutoResetEvent _receiveWake = new(false);
    private readonly Action<string>? _log;
    private Thread? _transmitThread;
    private volatile bool _disposed, _paused, _linkUp = true;
    private int _backendStarted;
    private IVirtioTransport? _transport;
    private int _receivedSinceSignal;

    private long _bytesSent, _bytesReceived;
    /// <summary>Bytes of the frames sent and received (Ethernet header and payload).</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);
    private long _framesSent, _framesReceived, _receiveDropped, _transmitDropped, _transmitErrors, _transmitBatches, _receiveBatches;

    /// <param name="mac">The six-byte MAC address the guest gets.</param>
    public VirtioNet(IVirtioNetBackend backend, ReadOnlySpan<byte> mac, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (mac.Length != MacLength) throw new ArgumentException("a MAC address has six bytes", nameof(mac));
        if ((mac[0] & 1) != 0) throw new ArgumentException("a station's MAC address may not be a multicast address", nameof(mac));
        _backend = backend;
        mac.CopyTo(_mac);
        _log = log;
    }

    public IVirtioNetBackend Backend => _backend;
    /// <summary>The MAC address as six colon-separated hex bytes, e.g. 52:54:00:12:34:56.</summary>
    public string MacAddress => FormatMac(_mac);
    public bool LinkUp => _linkUp;

    public long FramesSent => Interlocked.Read(ref _framesSent);
    public long FramesReceived => Interlocked.Read(ref _framesReceived);
    /// <summary>Received frames dropped: the device was not live, or a frame did not fit the guest's buffer.</summary>
    public long ReceiveDropped => Interlocked.Read(ref _receiveDropped);
    /// <summary>Transmitted chains not sent because their frame was shorter than an Ethernet header or too long.</summary>
    public long TransmitDropped => Interlocked.Read(ref _transmitDropped);
    /// <summary>Frames the backend failed to send.</summary>
    public long TransmitErrors => Interlocked.Read(ref _transmitErrors);
    /// <summary>Transmit batches: each ends with at most one interrupt.</summary>
    public long TransmitBatches => Interlocked.Read(ref _transmitBatches);
    /// <summary>Receive batches that completed frames: each ends with at most one interrupt.</summary>
    public long ReceiveBatches => Interlocked.Read(ref _receiveBatches);

    public ushort DeviceType => VirtioDeviceType.Network;
    public uint PciClassCode => 0x02_00_00;          // Ethernet controller
    public ulong DeviceFeatures => FeatureMtu | FeatureMac | FeatureStatus;
    public int QueueCount => 2;
    public ushort MaxQueueSize => QueueSize;
    public int ConfigSize => ConfigLength;

    public void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[ConfigLength];
        _mac.CopyTo(config);
        BinaryPrimitives.WriteUInt16LittleEndian(config[6..], _linkUp ? StatusLinkUp : (ushort)0);
        BinaryPrimitives.WriteUInt16LittleEndian(config[8..], 1);                 // max_virtqueue_pairs
        BinaryPrimitives.WriteUInt16LittleEndian(config[10..], Mtu);
        config.Slice(offset, data.Length).CopyTo(data);
    }

    // A VERSION_1 driver may not write the configuration (the MAC is set through a control queue, not offered).
    public void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    /// <summary>Sets the link status the guest sees and tells it through a configuration change interrupt.</summary>
    public void SetLinkUp(bool up)
    {
        if (_linkUp == up) return;
        _linkUp = up;
        Volatile.Read(ref _transport)?.NotifyConfigChanged();
    }

    public void Activate(IVirtioTransport transport)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_receiveLock)
        lock (_transmitLock)
        {
            _transport = transport;
            _receivedSinceSignal = 0;
            if (_transmitThread is null)
            {
                _transmitThread = new Thread(TransmitLoop) { IsBackground = true, Name = $"virtio-net {_backend.Name} tx" };
                _transmitThread.Start();
            }
        }
        if (Interlocked.Exchange(ref _backendStarted, 1) == 0) _backend.Start(this);
        _transmitWork.Set();
        _receiveWake.Set();
    }

    public void QueueNotified(int queueIndex)
    {
        if (queueIndex == TransmitQueue) _transmitWork.Set();
        else if (queueIndex == ReceiveQueue) _receiveWake.Set();
    }

    /// <summary>Waits for the frames in flight, then stops touching the queues.</summary>
    public void Reset()
    {
        lock (_receiveLock)
        lock (_transmitLock)
        {
            _transport = null;
            _receivedSinceSignal = 0;
        }
        _receiveWake.Set();
    }

    /// <summary>
    /// Stops both paths between two frames (waiting for a batch in flight) until <see cref="ResumeProcessing"/>: the VM is
    /// paused. Received frames wait in the backend (for a tap, in the host kernel's queue).
    /// </summary>
    public void PauseProcessing()
    {
        lock (_receiveLock)
        lock (_transmitLock)
            _paused = true;
    }

    public void ResumeProcessing()
    {
        _paused = false;
        _transmitWork.Set();
        _receiveWake.Set();
    }

    /// <summary>Its key under its transport, which saves the queues and restores before it.</summary>
    public string StateKey => "virtio-net";

    public VirtioNetState SaveState() => new() { MacAddress = MacAddress, LinkUp = _linkUp };

    /// <summary>Takes the saved MAC address (the one the guest's driver read) and link status.</summary>
    public void RestoreState(VirtioNetState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!TryParseMac(state.MacAddress, out var mac))
            throw new ArgumentException($"virtio-net state has no valid MAC address ('{state.MacAddress}')", nameof(state));
        mac.CopyTo(_mac, 0);
        _linkUp = state.LinkUp;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Reset();
        _transmitWork.Set();
        _receiveWake.Set();
        // The backend's reader thread may be waiting in Deliver; it sees _disposed and returns, then the backend joins
        // it. The backend stays open: its owner may give it to the next boot's device.
        if (Volatile.Read(ref _backendStarted) != 0) _backend.Stop();
        _transmitThread?.Join();
        _transmitWork.Dispose();
        _receiveWake.Dispose();
    }

    // ------------------------------------------------------------------ receive (backend thread)

    public bool Deliver(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < EthernetHeaderLength || frame.Length > MaxFrameLength)
        {
            Interlocked.Increment(ref _receiveDropped);
            return false;
        }
        while (true)
        {
            if (_disposed) return false;
            lock (_receiveLock)
            {
                if (!_paused)
                {
                    if (_transport is not { IsBroken: false } transport || !transport.GetQueue(ReceiveQueue).Enabled)
                    {
                        Interlocked.Increment(ref _receiveDropped);
                        return false;
                    }
                    var queue = transport.GetQueue(ReceiveQueue);
                    try
                    {
                        if (queue.Pop() is { } chain) return Fill(queue, chain, frame);
                        // Out of buffers: let the driver see what it has, ask to be told of new buffers, and look once more.
                        SignalReceived(transport);
                        queue.RequestNotification();
                        if (queue.HasAvailable()) continue;
                    }
                    catch (VirtqueueException e)
                    {
                        transport.MarkBroken(e.Message);
                        Interlocked.Increment(ref _receiveDropped);
                        return false;
                    }
                    catch (Exception e)
                    {
                        // Nothing may leave the backend's thread; a failure we did not foresee stops the device, not the VMM.
                        _log?.Invoke($"virtio-net {_backend.Name}: unexpected {e.GetType().Name} on receive: {e.Message}");
                        transport.MarkBroken($"internal error: {e.Message}");
                        return false;
                    }
                }
            }
            try
            {
                _receiveWake.WaitOne();
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }
    }

    public void EndOfBatch()
    {
        lock (_receiveLock)
        {
            if (!_paused && _transport is { IsBroken: false } transport) SignalReceived(transport);
        }
    }

    // Caller holds _receiveLock.
    private bool Fill(Virtqueue queue, VirtqueueChain chain, ReadOnlySpan<byte> frame)
    {
        int total = HeaderLength + frame.Length;
        if (chain.WritableLength < (ulong)total)
        {
            // The frame does not fit (the host side's MTU is larger than ours): drop it and hand the buffer back empty,
            // which the driver counts as a length error and reposts, so no buffer is lost.
            queue.PushUsed(chain.Head, 0);
            _receivedSinceSignal++;
            Interlocked.Increment(ref _receiveDropped);
            return false;
        }
        Span<byte> header = stackalloc byte[HeaderLength];
        header.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(header[10..], 1);   // num_buffers
        chain.Write(0, header);
        chain.Write(HeaderLength, frame);
        queue.PushUsed(chain.Head, (uint)total);
        _receivedSinceSignal++;
        Interlocked.Increment(ref _framesReceived);
        Interlocked.Add(ref _bytesReceived, frame.Length);
        return true;
    }

    // Caller holds _receiveLock.
    private void SignalReceived(IVirtioTransport transport)
    {
        if (_receivedSinceSignal == 0) return;
        _receivedSinceSignal = 0;
        Interlocked.Increment(ref _receiveBatches);
        transport.NotifyUsed(ReceiveQueue);
    }

    // ------------------------------------------------------------------ transmit (device thread)

    private void TransmitLoop()
    {
        while (true)
        {
            _transmitWork.WaitOne();
            if (_disposed) return;
            lock (_transmitLock)
            {
                if (!_paused && _transport is { IsBroken: false } transport) DrainTransmit(transport);
            }
        }
    }

    private void DrainTransmit(IVirtioTransport transport)
    {
        var queue = transport.GetQueue(TransmitQueue);
        if (!queue.Enabled) return;
        try
        {
            do
            {
                int done = 0;
                while (queue.Pop() is { } chain)
                {
                    Transmit(chain);
                    queue.PushUsed(chain.Head, 0);
                    done++;
                }
                if (done > 0)
                {
                    Interlocked.Increment(ref _transmitBatches);
                    transport.NotifyUsed(TransmitQueue);
                }
                queue.RequestNotification();
            } while (queue.HasAvailable());
        }
        catch (VirtqueueException e)
        {
            transport.MarkBroken(e.Message);
        }
        catch (Exception e)
        {
            _log?.Invoke($"virtio-net {_backend.Name}: unexpected {e.GetType().Name} on transmit: {e.Message}");
            transport.MarkBroken($"internal error: {e.Message}");
        }
    }

    private void Transmit(VirtqueueChain chain)
    {
        ulong readable = chain.ReadableLength;
        if (readable < HeaderLength)
            throw new VirtqueueException($"virtio-net transmit chain {chain.Head} has {readable} readable bytes, no {HeaderLength}-byte header");
        // The header asks for nothing: no offload was negotiated that would let it. Writable buffers are ignored.
        ulong length = readable - HeaderLength;
        if (length < EthernetHeaderLength || length > MaxFrameLength)
        {
            Interlocked.Increment(ref _transmitDropped);
            return;
        }
        var frame = _transmitFrame.AsSpan(0, chain.Read(HeaderLength, _transmitFrame.AsSpan(0, (int)length)));
        try
        {
            _backend.Send(frame);
            Interlocked.Increment(ref _framesSent);
            Interlocked.Add(ref _bytesSent, frame.Length);
        }
        catch (IOException)
        {
            // A real NIC drops what the wire refuses; the count shows it.
            Interlocked.Increment(ref _transmitErrors);
        }
    }

    // ------------------------------------------------------------------ MAC addresses

    public static string FormatMac(ReadOnlySpan<byte> mac) =>
        string.Join(':', mac.ToArray().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));

    /// <summary>Parses six colon-separated hex bytes (e.g. 52:54:00:12:34:56).</summary>
    public static bool TryParseMac(string? text, out byte[] mac)
    {
        mac = new byte[MacLength];
        if (text is null) return false;
        string[] parts = text.Split(':');
        if (parts.Length != MacLength) return false;
        for (int i = 0; i < MacLength; i++)
        {
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out mac[i]))
                return false;
        }
        return true;
    }
}
