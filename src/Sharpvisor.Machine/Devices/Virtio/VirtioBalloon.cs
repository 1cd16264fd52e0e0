using System.Buffers.Binary;
using Sharpvisor.Machine.Devices.State;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// virtio-balloon (virtio 1.x section 5.5). The host sets a target (num_pages, 4 KiB pages) with
/// <see cref="SetTargetPages"/> and the driver inflates or deflates towards it, reporting its size in "actual".
/// <list type="bullet">
/// <item>Inflate queue: page frame numbers the guest gives up; each page goes back to the host (madvise DONTNEED on the
/// anonymous guest mapping, so it reads as zero afterwards and the VMM's RSS falls). The mapping stays where it is, so
/// host pointers into it (the emulator's TLB, KVM's memory slots) stay valid and simply fault in a fresh page.</item>
/// <item>Deflate queue: pages the guest takes back; nothing to do (no MUST_TELL_HOST), they are counted.</item>
/// <item>Statistics queue (VIRTIO_BALLOON_F_STATS_VQ): the driver sends one buffer of (tag, value) pairs; the device
/// keeps the latest figures and holds the buffer until <see cref="RequestStatistics"/>, which hands it back so the
/// driver refills it.</item>
/// <item>Reporting queue (VIRTIO_BALLOON_F_REPORTING): ranges of free guest memory (a chain of buffers, order-9 blocks
/// and up with Debian's kernel); each goes back to the host like an inflated page, and the chain is returned.</item>
/// </list>
/// Queue indices follow the negotiated features: inflate 0, deflate 1, then statistics, then reporting, each only if
/// negotiated. Page numbers outside RAM are counted and skipped; a broken queue protocol sets NEEDS_RESET (one log
/// line, through the transport). Requests are served on the notifying vCPU thread.
/// </summary>
public sealed class VirtioBalloon : IVirtioDevice, IStatefulDevice<VirtioBalloonState>
{
    public const ulong FeatureMustTellHost = 1UL << 0, FeatureStatsQueue = 1UL << 1, FeatureDeflateOnOom = 1UL << 2,
        FeatureFreePageHint = 1UL << 3, FeaturePagePoison = 1UL << 4, FeatureReporting = 1UL << 5;
    public const int PageSize = 4096, PageShift = 12;
    public const int InflateQueue = 0, DeflateQueue = 1;
    public const ushort QueueSize = 128;
    public const int ConfigLength = 8;
    /// <summary>Bytes of one statistics entry: a 16-bit tag and a 64-bit value, packed.</summary>
    public const int StatisticEntrySize = 10;
    /// <summary>Entries read from one statistics buffer (Linux sends about a dozen).</summary>
    public const int MaxStatistics = 64;

    private readonly Lock _lock = new();
    private IVirtioTransport? _transport;
    private uint _targetPages, _actualPages;
    private int _statsQueue = -1, _reportingQueue = -1;
    private int _heldStatsHead = -1;
    private VirtioBalloonStatistics? _statistics;
    private long _statisticsSequence;
    private long _pagesReturned, _pagesDeflated, _pagesReported, _badPageNumbers;

    public ushort DeviceType => VirtioDeviceType.Balloon;
    public uint PciClassCode => 0xFF_00_00;
    /// <summary>
    /// Statistics, free page reporting, and deflate-on-OOM: the guest may deflate when it runs out of memory, so the
    /// balloon is a request, not a hard limit (as with QEMU's deflate-on-oom=on).
    /// </summary>
    public ulong DeviceFeatures => FeatureStatsQueue | FeatureDeflateOnOom | FeatureReporting;
    /// <summary>inflate, deflate, and up to two more (statistics, reporting) depending on what is negotiated.</summary>
    public int QueueCount => 4;
    public ushort MaxQueueSize => QueueSize;
    public int ConfigSize => ConfigLength;

    public uint TargetPages { get { lock (_lock) return _targetPages; } }
    /// <summary>The balloon size the driver last reported.</summary>
    public uint ActualPages { get { lock (_lock) return _actualPages; } }
    /// <summary>4 KiB pages inflated and given back to the host.</summary>
    public long PagesReturned => Interlocked.Read(ref _pagesReturned);
    public long PagesDeflated => Interlocked.Read(ref _pagesDeflated);
    /// <summary>4 KiB pages of free memory the guest reported and the host took back.</summary>
    public long PagesReported => Interlocked.Read(ref _pagesReported);
    public long BadPageNumbers => Interlocked.Read(ref _badPageNumbers);
    /// <summary>The latest statistics from the guest, or null before the first (or without the statistics queue).</summary>
    public VirtioBalloonStatistics? Statistics { get { lock (_lock) return _statistics; } }
    /// <summary>Whether the driver negotiated the statistics queue and free page reporting (false before DRIVER_OK).</summary>
    public bool StatisticsNegotiated { get { lock (_lock) return _statsQueue >= 0; } }
    public bool ReportingNegotiated { get { lock (_lock) return _reportingQueue >= 0; } }

    /// <summary>Asks the guest to hold <paramref name="pages"/> 4 KiB pages in its balloon (a configuration interrupt).</summary>
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

    /// <summary>
    /// Hands the held statistics buffer back to the driver, which answers with fresh figures (watch
    /// <see cref="VirtioBalloonStatistics.Sequence"/>). Returns false if the device holds no buffer to return.
    /// </summary>
    public bool RequestStatistics()
    {
        lock (_lock)
        {
            if (_heldStatsHead < 0 || _transport is not { IsBroken: false } transport) return false;
            var queue = transport.GetQueue(_statsQueue);
            ushort head = (ushort)_heldStatsHead;
            _heldStatsHead = -1;
            queue.PushUsed(head, 0);
            transport.NotifyUsed(_statsQueue);
            return true;
        }
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
        lock (_lock)
        {
            _transport = transport;
            ulong features = transport.NegotiatedFeatures;
            int next = DeflateQueue + 1;
            _statsQueue = (features & FeatureStatsQueue) != 0 ? next++ : -1;
            _reportingQueue = (features & FeatureReporting) != 0 ? next : -1;
        }
        for (int i = 0; i < QueueCount; i++) QueueNotified(i);
    }

    public void Reset()
    {
        lock (_lock)
        {
            _transport = null;
            _actualPages = 0;
            _heldStatsHead = -1;
            _statsQueue = _reportingQueue = -1;
        }
    }

    public void QueueNotified(int queueIndex)
    {
        lock (_lock)
        {
            if (_transport is not { IsBroken: false } transport || (uint)queueIndex >= (uint)QueueCount) return;
            var queue = transport.GetQueue(queueIndex);
            if (!queue.Enabled) return;
            try
            {
                if (queueIndex == _statsQueue)
                {
                    ReceiveStatistics(transport, queue);
                    return;
                }
                if (queueIndex is not (InflateQueue or DeflateQueue) && queueIndex != _reportingQueue) return;
                do
                {
                    bool any = false;
                    while (queue.Pop() is { } chain)
                    {
                        if (queueIndex == _reportingQueue) Report(transport, chain);
                        else ApplyPageNumbers(transport, chain, inflate: queueIndex == InflateQueue);
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

    // Caller holds _lock. The driver keeps one buffer with the device; a newer one replaces it (the older goes back).
    private void ReceiveStatistics(IVirtioTransport transport, Virtqueue queue)
    {
        bool returned = false;
        do
        {
            while (queue.Pop() is { } chain)
            {
                if (_heldStatsHead >= 0)
                {
                    queue.PushUsed((ushort)_heldStatsHead, 0);
                    returned = true;
                }
                _heldStatsHead = chain.Head;
                ParseStatistics(chain);
            }
            queue.RequestNotification();
        } while (queue.HasAvailable());
        if (returned) transport.NotifyUsed(_statsQueue);
    }

    private void ParseStatistics(VirtqueueChain chain)
    {
        Span<byte> entry = stackalloc byte[StatisticEntrySize];
        var values = new Dictionary<ushort, ulong>();
        ulong count = Math.Min(chain.ReadableLength / StatisticEntrySize, MaxStatistics);
        for (ulong i = 0; i < count; i++)
        {
            if (chain.Read(i * StatisticEntrySize, entry) != StatisticEntrySize) break;
            values[BinaryPrimitives.ReadUInt16LittleEndian(entry)] = BinaryPrimitives.ReadUInt64LittleEndian(entry[2..]);
        }
        _statistics = new VirtioBalloonStatistics { ReceivedAt = DateTimeOffset.UtcNow, Sequence = ++_statisticsSequence, Values = values };
    }

    private void ApplyPageNumbers(IVirtioTransport transport, VirtqueueChain chain, bool inflate)
    {
        Span<byte> numbers = stackalloc byte[256];
        for (ulong offset = 0; offset + 4 <= chain.ReadableLength; offset += (ulong)numbers.Length)
        {
            int got = chain.Read(offset, numbers) & ~3;
            for (int i = 0; i < got; i += 4)
            {
                ulong gpa = (ulong)BinaryPrimitives.ReadUInt32LittleEndian(numbers[i..]) << PageShift;
                if (!inflate)
                {
                    if (transport.Memory.IsRam(gpa, PageSize)) Interlocked.Increment(ref _pagesDeflated);
                    else Interlocked.Increment(ref _badPageNumbers);
                    continue;
                }
                if (GiveBack(transport.Memory, gpa, PageSize)) Interlocked.Increment(ref _pagesReturned);
                else Interlocked.Increment(ref _badPageNumbers);
            }
            if (got < numbers.Length) break;
        }
    }

    // Every buffer of a reporting chain is a free range (the driver adds them device-writable; nothing is written).
    private void Report(IVirtioTransport transport, VirtqueueChain chain)
    {
        for (int i = 0; i < chain.Count; i++)
        {
            ulong start = chain.AddressOf(i), end = start + chain.LengthOf(i);
            // Only whole pages inside the range; the queue checked that the range is RAM.
            ulong first = (start + PageSize - 1) & ~(ulong)(PageSize - 1), last = end & ~(ulong)(PageSize - 1);
            if (last <= first) continue;
            if (GiveBack(transport.Memory, first, last - first)) Interlocked.Add(ref _pagesReported, (long)((last - first) >> PageShift));
            else Interlocked.Increment(ref _badPageNumbers);
        }
    }

    private static bool GiveBack(GuestMemory memory, ulong gpa, ulong length)
    {
        if (memory.FindRegion(gpa, length) is not { } region) return false;
        try
        {
            region.Discard(gpa, length);
        }
        catch (GuestMemoryException)
        {
            return false;   // the host refused; the pages simply stay
        }
        // The pages now read as zeros: changed contents, for the dirty log and for decoded code.
        memory.NoteDeviceWrite(gpa, length);
        return true;
    }

    /// <summary>Its key under its transport, which saves the queues and restores before it.</summary>
    public string StateKey => "virtio-balloon";

    public VirtioBalloonState SaveState()
    {
        lock (_lock)
            return new VirtioBalloonState
            {
                TargetPages = _targetPages, ActualPages = _actualPages, HeldStatisticsHead = _heldStatsHead,
                StatisticsSequence = _statisticsSequence,
                Statistics = _statistics is { } s ? new Dictionary<ushort, ulong>(s.Values) : null,
                StatisticsReceivedAt = _statistics?.ReceivedAt,
                PagesInflated = PagesReturned, PagesDeflated = PagesDeflated, PagesReported = PagesReported,
                BadPageNumbers = BadPageNumbers,
            };
    }

    /// <summary>Loads <paramref name="state"/>; call after the transport's own restore, which resets and re-activates the model.</summary>
    public void RestoreState(VirtioBalloonState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.HeldStatisticsHead is < -1 or >= QueueSize)
            throw new ArgumentException($"virtio-balloon state holds statistics descriptor {state.HeldStatisticsHead}", nameof(state));
        lock (_lock)
        {
            _targetPages = state.TargetPages;
            _actualPages = state.ActualPages;
            _heldStatsHead = _statsQueue >= 0 ? state.HeldStatisticsHead : -1;
            _statisticsSequence = state.StatisticsSequence;
            _statistics = state.Statistics is null ? null : new VirtioBalloonStatistics
            {
                ReceivedAt = state.StatisticsReceivedAt ?? DateTimeOffset.UtcNow, Sequence = state.StatisticsSequence,
                Values = new Dictionary<ushort, ulong>(state.Statistics),
            };
            Interlocked.Exchange(ref _pagesReturned, state.PagesInflated);
            Interlocked.Exchange(ref _pagesDeflated, state.PagesDeflated);
            Interlocked.Exchange(ref _pagesReported, state.PagesReported);
            Interlocked.Exchange(ref _badPageNumbers, state.BadPageNumbers);
        }
    }
}
