using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Machine.Storage;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// virtio-blk (virtio 1.x section 5.2) over a block backend (raw or qcow2, <see cref="IBlockBackend"/>): reads, writes,
/// flush, get-ID (the serial), discard and write-zeroes (the backend gives the space back where it can).
/// A read-only disk offers VIRTIO_BLK_F_RO and fails writes.
/// <para>
/// Requests are processed on the device's own I/O thread, never on a vCPU: a notification only wakes that thread,
/// which takes every available request, completes them and then interrupts the driver once for the batch.
/// </para>
/// </summary>
public sealed class VirtioBlock : IVirtioDevice, IDisposable, IVirtioBackgroundWork
{
    public const int SectorSize = 512;
    public const ushort QueueSize = 256;
    public const int IdLength = 20;
    public const int ConfigLength = 64;

    public const ulong FeatureSizeMax = 1UL << 1, FeatureSegmentMax = 1UL << 2, FeatureReadOnly = 1UL << 5,
        FeatureBlockSize = 1UL << 6, FeatureFlush = 1UL << 9, FeatureDiscard = 1UL << 13, FeatureWriteZeroes = 1UL << 14;
    public const uint RequestIn = 0, RequestOut = 1, RequestFlush = 4, RequestGetId = 8, RequestDiscard = 11, RequestWriteZeroes = 13;
    public const byte StatusOk = 0, StatusIoError = 1, StatusUnsupported = 2;
    public const uint WriteZeroesUnmap = 1;

    /// <summary>Most data buffers per request the driver may use (seg_max): the queue size less header and status.</summary>
    public const uint SegmentMax = QueueSize - 2;
    public const uint MaxDiscardSectors = 1u << 22, MaxDiscardSegments = 32;
    /// <summary>Discard granularity in sectors: 4 KiB, the host file system's block.</summary>
    public const uint DiscardSectorAlignment = 8;

    private const int HeaderLength = 16, RangeLength = 16;
    private IBlockBackend _backend;   // replaced only under _processing (ChangeImage)
    private readonly byte[] _config = new byte[ConfigLength];
    private readonly byte[] _id = new byte[IdLength];
    private readonly Lock _processing = new();
    private readonly AutoResetEvent _work = new(false);
    private readonly Action<string>? _log;
    private Thread? _worker;
    private volatile bool _disposed;
    private volatile bool _paused;
    private IVirtioTransport? _transport;
    private readonly CancellationTokenSource _stopThrottling = new();

    /// <summary>Requests wait for it before they are served: bytes of data, one operation each (Firecracker's drive rate limiter).</summary>
    public Throttling.IoRateLimiter? RateLimiter { get; init; }

    /// <summary>A raw image file (the format is not probed: see <see cref="BlockBackendOpener"/> for that).</summary>
    /// <param name="serial">What VIRTIO_BLK_T_GET_ID returns (at most 20 ASCII bytes); default: the file's name.</param>
    public VirtioBlock(string path, bool readOnly, string? serial = null, Action<string>? log = null)
        : this(new RawBlockBackend(path, readOnly), path, serial, log)
    {
    }

    /// <param name="backend">The disk; the device owns it from here on and disposes of it.</param>
    /// <param name="path">The image's path, as the configuration names it.</param>
    public VirtioBlock(IBlockBackend backend, string path, string? serial = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentException.ThrowIfNullOrEmpty(path);
        _backend = backend;
        Path = path;
        ReadOnly = backend.ReadOnly;
        _log = log;
        CapacitySectors = backend.VirtualSize / SectorSize;
        Serial = serial ?? System.IO.Path.GetFileName(path);
        Encoding.ASCII.GetBytes(Serial.Length > IdLength ? Serial[..IdLength] : Serial).CopyTo(_id, 0);

        var c = _config.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(c, CapacitySectors);             // capacity
        BinaryPrimitives.WriteUInt32LittleEndian(c[12..], SegmentMax);            // seg_max
        BinaryPrimitives.WriteUInt32LittleEndian(c[20..], SectorSize);            // blk_size
        BinaryPrimitives.WriteUInt16LittleEndian(c[34..], 1);                     // num_queues
        BinaryPrimitives.WriteUInt32LittleEndian(c[36..], MaxDiscardSectors);     // max_discard_sectors
        BinaryPrimitives.WriteUInt32LittleEndian(c[40..], MaxDiscardSegments);    // max_discard_seg
        BinaryPrimitives.WriteUInt32LittleEndian(c[44..], DiscardSectorAlignment);// discard_sector_alignment
        BinaryPrimitives.WriteUInt32LittleEndian(c[48..], MaxDiscardSectors);     // max_write_zeroes_sectors
        BinaryPrimitives.WriteUInt32LittleEndian(c[52..], MaxDiscardSegments);    // max_write_zeroes_seg
        c[56] = 1;                                                                // write_zeroes_may_unmap
    }

    /// <summary>The image the disk reads and writes now (a snapshot moves it onto an overlay).</summary>
    public string Path { get; private set; }
    public bool ReadOnly { get; }
    public string Serial { get; }
    public ulong CapacitySectors { get; }

    // Counters for metrics, written by the device's I/O thread and read from any thread.
    private long _readRequests, _writeRequests, _flushRequests, _bytesRead, _bytesWritten;
    public long ReadRequests => Interlocked.Read(ref _readRequests);
    public long WriteRequests => Interlocked.Read(ref _writeRequests);
    public long FlushRequests => Interlocked.Read(ref _flushRequests);
    public long BytesRead => Interlocked.Read(ref _bytesRead);
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>Requests completed so far (any status).</summary>
    public long RequestsCompleted => Interlocked.Read(ref _requests);
    private long _requests;
    /// <summary>Batches processed: each ends with at most one interrupt.</summary>
    public long Batches => Interlocked.Read(ref _batches);
    private long _batches;

    public ushort DeviceType => VirtioDeviceType.Block;
    public uint PciClassCode => 0x01_00_00;          // mass storage (SCSI class, as QEMU shows virtio-blk)
    public ulong DeviceFeatures => FeatureSegmentMax | FeatureBlockSize | FeatureFlush
        | (ReadOnly ? FeatureReadOnly : FeatureDiscard | FeatureWriteZeroes);
    public int QueueCount => 1;
    public ushort MaxQueueSize => QueueSize;
    public int ConfigSize => ConfigLength;

    public void ReadConfig(int offset, Span<byte> data) => _config.AsSpan(offset, data.Length).CopyTo(data);

    // Nothing in the configuration is writable without VIRTIO_BLK_F_CONFIG_WCE, which is not offered.
    public void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    public void Activate(IVirtioTransport transport)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_processing)
        {
            _transport = transport;
            if (_worker is null)
            {
                _worker = new Thread(WorkerLoop) { IsBackground = true, Name = $"virtio-blk {Serial}" };
                _worker.Start();
            }
        }
        _work.Set();
    }

    public void QueueNotified(int queueIndex) => _work.Set();

    public void PauseProcessing()
    {
        lock (_processing) _paused = true;
    }

    public void ResumeProcessing()
    {
        _paused = false;
        _work.Set();
    }

    /// <summary>
    /// Puts another image of the same size under the disk between two batches (a snapshot freezes the image and the
    /// guest writes on into an overlay on it). <paramref name="change"/> gets the current backend, flushed, and returns
    /// the new one with its path; if it throws, the disk stays on the current one. The old backend is disposed.
    /// </summary>
    public void ChangeImage(Func<IBlockBackend, (IBlockBackend Backend, string Path)> change)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_processing)
        {
            _backend.Flush();
            var (next, path) = change(_backend);
            if (next.VirtualSize != _backend.VirtualSize || next.ReadOnly != ReadOnly)
            {
                next.Dispose();
                throw new IOException($"{path} is not the same disk as {Path}: {next.VirtualSize} bytes{(next.ReadOnly ? ", read-only" : "")}, not {_backend.VirtualSize}");
            }
            var old = _backend;
            _backend = next;
            Path = path;
            old.Dispose();
        }
    }

    /// <summary>Waits for the batch in flight, then stops touching the queue.</summary>
    public void Reset()
    {
        lock (_processing) _transport = null;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stopThrottling.Cancel(); // a request waiting for its rate limiter goes ahead, so the worker can end
        Reset();
        _work.Set();
        _worker?.Join();
        _work.Dispose();
        _stopThrottling.Dispose();
        _backend.Dispose();
    }

    private void WorkerLoop()
    {
        while (true)
        {
            _work.WaitOne();
            if (_disposed) return;
            lock (_processing)
            {
                if (!_paused && _transport is { IsBroken: false } transport) Drain(transport);
            }
        }
    }

    private void Drain(IVirtioTransport transport)
    {
        var queue = transport.GetQueue(0);
        try
        {
            do
            {
                int done = 0;
                while (queue.Pop() is { } chain)
                {
                    queue.PushUsed(chain.Head, Process(chain));
                    done++;
                }
                if (done > 0)
                {
                    Interlocked.Add(ref _requests, done);
                    Interlocked.Increment(ref _batches);
                    transport.NotifyUsed(0);
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
            // Nothing may leave the I/O thread; a failure we did not foresee stops the device, not the VMM.
            _log?.Invoke($"virtio-blk {Serial}: unexpected {e.GetType().Name}: {e.Message}");
            transport.MarkBroken($"internal error: {e.Message}");
        }
    }

    /// <summary>Serves one request; returns the bytes written into the chain's writable part (data and status).</summary>
    private uint Process(VirtqueueChain chain)
    {
        Span<byte> header = stackalloc byte[HeaderLength];
        if (chain.Read(0, header) < HeaderLength)
            throw new VirtqueueException($"virtio-blk request {chain.Head} has {chain.ReadableLength} readable bytes, no 16-byte header");
        if (chain.WritableLength == 0)
            throw new VirtqueueException($"virtio-blk request {chain.Head} has no writable status byte");
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        ulong dataIn = chain.WritableLength - 1;              // room for data before the status byte
        ulong dataOut = chain.ReadableLength - HeaderLength;  // data after the header
        uint written = 0;
        byte status;
        if (RateLimiter is { } limiter && type is RequestIn or RequestOut or RequestFlush or RequestDiscard or RequestWriteZeroes)
            limiter.Throttle(type == RequestIn ? (long)dataIn : type == RequestOut ? (long)dataOut : 0, _stopThrottling.Token);
        try
        {
            switch (type)
            {
                case RequestIn:
                    status = Transfer(chain, sector, dataIn, toGuest: true);
                    if (status == StatusOk) written = (uint)dataIn;
                    Interlocked.Increment(ref _readRequests);
                    if (status == StatusOk) Interlocked.Add(ref _bytesRead, (long)dataIn);
                    break;
                case RequestOut:
                    status = ReadOnly ? StatusIoError : Transfer(chain, sector, dataOut, toGuest: false);
                    Interlocked.Increment(ref _writeRequests);
                    if (status == StatusOk) Interlocked.Add(ref _bytesWritten, (long)dataOut);
                    break;
                case RequestFlush:
                    if (!ReadOnly) _backend.Flush();
                    Interlocked.Increment(ref _flushRequests);
                    status = StatusOk;
                    break;
                case RequestGetId:
                    written = (uint)chain.Write(0, _id.AsSpan(0, (int)Math.Min(dataIn, IdLength)));
                    status = StatusOk;
                    break;
                case RequestDiscard:
                case RequestWriteZeroes:
                    status = ReadOnly ? StatusIoError : ZeroRanges(chain, dataOut, type == RequestWriteZeroes);
                    break;
                default:
                    status = StatusUnsupported;
                    break;
            }
        }
        catch (IOException e)
        {
            _log?.Invoke($"virtio-blk {Serial}: request type {type} at sector {sector}: {e.Message}");
            status = StatusIoError;
            written = 0;
        }
        chain.Write(chain.WritableLength - 1, [status]);
        return written + 1;
    }

    private bool InRange(ulong sector, ulong sectors) => sector <= CapacitySectors && sectors <= CapacitySectors - sector;

    private byte Transfer(VirtqueueChain chain, ulong sector, ulong length, bool toGuest)
    {
        if (length % SectorSize != 0 || !InRange(sector, length / SectorSize)) return StatusIoError;
        ulong position = sector * SectorSize;
        ulong remaining = length;
        // Data buffers: after the header for writes, before the status byte for reads.
        int first = toGuest ? chain.FirstWritable : 0;
        int end = toGuest ? chain.Count : chain.FirstWritable;
        ulong skip = toGuest ? 0UL : HeaderLength;
        for (int i = first; i < end && remaining > 0; i++)
        {
            ulong segment = chain.LengthOf(i);
            if (skip >= segment)
            {
                skip -= segment;
                continue;
            }
            int n = (int)Math.Min(segment - skip, remaining);
            var span = chain.SpanOf(i).Slice((int)skip, n);
            if (toGuest)
            {
                _backend.Read(span, position);
                chain.MarkWritten(i, (uint)(skip + (ulong)n));
            }
            else
            {
                _backend.Write(span, position);
            }
            position += (ulong)n;
            remaining -= (ulong)n;
            skip = 0;
        }
        return StatusOk;
    }

    private byte ZeroRanges(VirtqueueChain chain, ulong payload, bool writeZeroes)
    {
        if (payload == 0 || payload % RangeLength != 0 || payload / RangeLength > MaxDiscardSegments) return StatusIoError;
        Span<byte> range = stackalloc byte[RangeLength];
        for (ulong at = 0; at < payload; at += RangeLength)
        {
            chain.Read(HeaderLength + at, range);
            ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(range);
            uint sectors = BinaryPrimitives.ReadUInt32LittleEndian(range[8..]);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(range[12..]);
            if (!writeZeroes && flags != 0 || (flags & ~WriteZeroesUnmap) != 0) return StatusUnsupported;
            if (sectors > MaxDiscardSectors || !InRange(sector, sectors)) return StatusIoError;
            ulong offset = sector * SectorSize, length = (ulong)sectors * SectorSize;
            if (length == 0) continue;
            if (writeZeroes) _backend.WriteZeroes(offset, length);
            else _backend.Discard(offset, length);
        }
        return StatusOk;
    }
}
