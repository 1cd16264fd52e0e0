using System.Buffers.Binary;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// virtio-balloon (virtio 1.x section 5.5) without statistics: the host sets a target (num_pages, 4 KiB pages) with
/// <see cref="SetTargetPages"/>; the guest's driver inflates by sending page frame numbers on the inflate queue, and
/// those pages go back to the host (madvise DONTNEED: they read as zero when the guest touches them again); pages on
/// the deflate queue need nothing, since the guest may simply use them again. The driver reports its balloon size in
/// the actual field. Page numbers outside RAM are counted and skipped; they do not break the device. Requests are
/// served on the notifying vCPU thread.
/// </summary>
public sealed class VirtioBalloon : IVirtioDevice
{
    public const ulong FeatureMustTellHost = 1UL << 0, FeatureStatsQueue = 1UL << 1, FeatureDeflateOnOom = 1UL << 2;
    public const int PageSize = 4096, PageShift = 12;
    public const int InflateQueue = 0, DeflateQueue = 1;
    public const ushort QueueSize = 128;
    public const int ConfigLength = 8;

    private readonly Lock _lock = new();
    private IVirtioTransport? _transport;
    private uint _targetPages, _actualPages;
    private long _pagesReturned, _pagesDeflated, _badPageNumbers;

    public ushort DeviceType => VirtioDeviceType.Balloon;
    public uint PciClassCode => 0xFF_00_00;
    /// <summary>The guest may deflate when it runs out of memory: the balloon is a request, not a hard limit.</summary>
    public ulong DeviceFeatures => FeatureDeflateOnOom;
    public int QueueCount => 2;
    public ushort MaxQueueSize => QueueSize;
    public int ConfigSize => ConfigLength;

    public uint TargetPages { get { lock (_lock) return _targetPages; } }
    /// <summary>The balloon size the driver last reported.</summary>
    public uint ActualPages { get { lock (_lock) return _actualPages; } }
    public long PagesReturned => Interlocked.Read(ref _pagesReturned);
    public long PagesDeflated => Interlocked.Read(ref _pagesDeflated);
    public long BadPageNumbers => Interlocked.Read(ref _badPageNumbers);

    /// <summary>Asks the guest to hold <paramref name="pages"/> 4 KiB pages in its balloon.</summary>
    public void SetTargetPages(uint pages)
    {
        IVirtioTransport? transport;
        lock (_lock)
        {
            _targetPages = pages;
            transport = _transport;
        }
        transport?.NotifyConfigChanged();
    }

    public void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[ConfigLength];
        lock (_lock)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(config, _targetPages);
            BinaryPrimitives.WriteUInt32LittleEndian(config[4..], _actualPages);
        }
        config.Slice(offset, data.Length).CopyTo(data);
    }

    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        // Only "actual" (bytes 4-7) is the driver's; it writes it whole.
        if (offset != 4 || data.Length != 4) return;
        lock (_lock) _actualPages = BinaryPrimitives.ReadUInt32LittleEndian(data);
    }

    public void Activate(IVirtioTransport transport)
    {
        lock (_lock) _transport = transport;
        QueueNotified(InflateQueue);
        QueueNotified(DeflateQueue);
    }

    public void Reset()
    {
        lock (_lock)
        {
            _transport = null;
            _actualPages = 0;
        }
    }

    public void QueueNotified(int queueIndex)
    {
        lock (_lock)
        {
            if (_transport is not { IsBroken: false } transport || !transport.GetQueue(queueIndex).Enabled) return;
            var queue = transport.GetQueue(queueIndex);
            try
            {
                do
                {
                    bool any = false;
                    while (queue.Pop() is { } chain)
                    {
                        Apply(transport, chain, inflate: queueIndex == InflateQueue);
                        queue.PushUsed(chain.Head, 0);
                        any = true;
                    }
                    if (any) transport.NotifyUsed(queueIndex);
                    queue.RequestNotification();
                } while (queue.HasAvailable());
            }
            catch (VirtqueueException e)
            {
                transport.MarkBroken(e.Message);
            }
        }
    }

    private void Apply(IVirtioTransport transport, VirtqueueChain chain, bool inflate)
    {
        Span<byte> numbers = stackalloc byte[256];
        for (ulong offset = 0; offset + 4 <= chain.ReadableLength; offset += (ulong)numbers.Length)
        {
            int got = chain.Read(offset, numbers) & ~3;
            for (int i = 0; i < got; i += 4)
            {
                ulong gpa = (ulong)BinaryPrimitives.ReadUInt32LittleEndian(numbers[i..]) << PageShift;
                var region = transport.Memory.FindRegion(gpa, PageSize);
                if (region is null)
                {
                    Interlocked.Increment(ref _badPageNumbers);
                    continue;
                }
                if (!inflate)
                {
                    Interlocked.Increment(ref _pagesDeflated);
                    continue;
                }
                try
                {
                    region.Discard(gpa, PageSize);
                    // The page now reads as zeros: changed contents, for the dirty log and for decoded code.
                    transport.Memory.NoteDeviceWrite(gpa, PageSize);
                    Interlocked.Increment(ref _pagesReturned);
                }
                catch (Memory.GuestMemoryException)
                {
                    Interlocked.Increment(ref _badPageNumbers);   // the host refused; the page simply stays
                }
            }
            if (got < numbers.Length) break;
        }
    }
}
