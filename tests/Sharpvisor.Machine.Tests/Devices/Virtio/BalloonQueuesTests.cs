using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>
/// virtio-balloon with all four queues as Linux's driver sets them up: deflate, the statistics buffer the device
/// holds until it wants fresh figures, free page reporting (ranges go back to the host and read as zero), the queue
/// numbering when statistics are not negotiated, hostile chains, and the state record.
/// </summary>
public sealed class BalloonQueuesTests : IDisposable
{
    private const ulong RingsBase = 0x40000, Data = FakeVirtioDriver.DataArea;
    private const ushort Size = 16;
    private readonly VirtioBalloon _balloon = new();
    private readonly FakeVirtioDriver _driver;
    private readonly Ring[] _rings = new Ring[4];

    public BalloonQueuesTests() => _driver = new FakeVirtioDriver(_balloon);

    public void Dispose() => _driver.Dispose();

    /// <summary>Negotiates <paramref name="features"/> and enables <paramref name="queues"/> queues, each with MSI-X vector = index.</summary>
    private void Start(ulong features, int queues)
    {
        for (int v = 0; v < 5; v++) _driver.EnableMsix(v, 0xFEE0_0000, 0x40u + (uint)v);
        Assert.True(_driver.Negotiate(features | VirtioFeatures.Version1));
        _driver.Memory.GetSpan(RingsBase, 0x10000 * 4).Clear();
        _driver.WriteCommon(VirtioPciDevice.ConfigMsixVectorRegister, 2, 4);
        for (int q = 0; q < queues; q++)
        {
            var ring = _rings[q] = new Ring(_driver, q, RingsBase + 0x10000UL * (ulong)q);
            _driver.WriteCommon(VirtioPciDevice.QueueSelectRegister, 2, (ulong)q);
            _driver.WriteCommon(VirtioPciDevice.QueueSizeRegister, 2, Size);
            _driver.WriteCommon(VirtioPciDevice.QueueDescRegister, 8, ring.Descriptors);
            _driver.WriteCommon(VirtioPciDevice.QueueDriverRegister, 8, ring.Available);
            _driver.WriteCommon(VirtioPciDevice.QueueDeviceRegister, 8, ring.Used);
            _driver.WriteCommon(VirtioPciDevice.QueueMsixVectorRegister, 2, (ulong)q);
            _driver.WriteCommon(VirtioPciDevice.QueueEnableRegister, 2, 1);
        }
        _driver.WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1,
            VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk);
        Assert.True(_driver.Device.IsLive);
    }

    private void WriteStatistics(ulong at, params (ushort Tag, ulong Value)[] stats)
    {
        for (int i = 0; i < stats.Length; i++)
        {
            _driver.Memory.WriteUInt16(at + 10UL * (ulong)i, stats[i].Tag);
            _driver.Memory.WriteUInt64(at + 10UL * (ulong)i + 2, stats[i].Value);
        }
    }

    [Fact]
    public void All_features_are_offered_and_the_guest_may_deflate()
    {
        ulong offered = _driver.OfferedFeatures();
        Assert.Equal(VirtioBalloon.FeatureStatsQueue | VirtioBalloon.FeatureDeflateOnOom | VirtioBalloon.FeatureReporting,
            offered & 0xFFFF_FFFF & ~VirtioFeatures.Transport);
        Start(VirtioBalloon.FeatureDeflateOnOom, 2);
        _driver.Memory.WriteUInt32(Data, 0x300);
        _driver.Memory.WriteUInt32(Data + 4, 0x301);
        _driver.Memory.WriteUInt32(Data + 8, 0xFFFF_0000);            // not RAM
        _rings[1].Submit((Data, 12, false));
        _driver.Notify(1);
        Assert.Equal(1, _rings[1].UsedIndex);
        Assert.Equal(2, _balloon.PagesDeflated);
        Assert.Equal(1, _balloon.BadPageNumbers);
        Assert.False(_balloon.StatisticsNegotiated);
        Assert.False(_balloon.ReportingNegotiated);
        Assert.Contains((0xFEE0_0000UL, 0x41u), _driver.Interrupts.Messages);
    }

    [Fact]
    public void The_statistics_buffer_is_held_until_the_host_asks_and_each_refill_updates_the_figures()
    {
        Start(VirtioBalloon.FeatureStatsQueue | VirtioBalloon.FeatureReporting, 4);
        Assert.True(_balloon.StatisticsNegotiated);
        Assert.False(_balloon.RequestStatistics());                   // nothing held yet
        WriteStatistics(Data, (VirtioBalloonStatistics.MemoryFree, 100 << 20), (VirtioBalloonStatistics.MemoryTotal, 250 << 20), (99, 7));
        ushort head = _rings[2].Submit((Data, 30, false));
        _driver.Notify(2);
        var first = _balloon.Statistics!;
        Assert.Equal(1, first.Sequence);
        Assert.Equal(100UL << 20, first[VirtioBalloonStatistics.MemoryFree]);
        Assert.Equal(250UL << 20, first[VirtioBalloonStatistics.MemoryTotal]);
        Assert.Equal(7UL, first[99]);
        Assert.Null(first[VirtioBalloonStatistics.SwapIn]);
        Assert.Equal(0, _rings[2].UsedIndex);                          // held, not returned

        Assert.True(_balloon.RequestStatistics());
        Assert.Equal(1, _rings[2].UsedIndex);
        Assert.Equal(head, (ushort)_rings[2].UsedElement(0).Id);
        Assert.Contains((0xFEE0_0000UL, 0x42u), _driver.Interrupts.Messages);
        Assert.False(_balloon.RequestStatistics());                   // returned already

        WriteStatistics(Data + 0x100, (VirtioBalloonStatistics.MemoryFree, 20 << 20));
        _rings[2].Submit((Data + 0x100, 10, false));
        _driver.Notify(2);
        Assert.Equal(2, _balloon.Statistics!.Sequence);
        Assert.Equal(20UL << 20, _balloon.Statistics[VirtioBalloonStatistics.MemoryFree]);
        Assert.Equal("stat-free-memory", VirtioBalloonStatistics.NameOf(VirtioBalloonStatistics.MemoryFree));
    }

    [Fact]
    public void Reported_free_ranges_go_back_to_the_host_and_read_as_zero_with_the_queue_numbered_by_the_features()
    {
        // Without the statistics queue, reporting is queue 2.
        Start(VirtioBalloon.FeatureReporting, 3);
        Assert.True(_balloon.ReportingNegotiated);
        const ulong a = 0x200000, b = 0x300000;
        _driver.Memory.GetSpan(a, 0x100000).Fill(0x5A);
        _driver.Memory.GetSpan(b, 0x2000).Fill(0x6B);
        var region = _driver.Memory.FindRegion(a)!;
        long residentBefore = ResidentPages(region);
        var written = new List<(ulong, ulong)>();
        _driver.Memory.WrittenOutsideVcpus += (gpa, length) => { lock (written) written.Add((gpa, length)); };

        // Reporting buffers are device-writable; a partial page at the end of b's range stays.
        _rings[2].Submit((a, 0x80000, true), (b, 0x1800, true));
        _driver.Notify(2);
        Assert.Equal(1, _rings[2].UsedIndex);
        Assert.Equal(0x80 + 1, _balloon.PagesReported);
        Assert.All(_driver.Memory.GetSpan(a, 0x80000).ToArray(), x => Assert.Equal(0, x));
        Assert.All(_driver.Memory.GetSpan(a + 0x80000, 0x80000).ToArray(), x => Assert.Equal(0x5A, x));
        Assert.All(_driver.Memory.GetSpan(b, 0x1000).ToArray(), x => Assert.Equal(0, x));
        Assert.All(_driver.Memory.GetSpan(b + 0x1000, 0x1000).ToArray(), x => Assert.Equal(0x6B, x));
        Assert.Contains((a, 0x80000UL), written);
        Assert.Contains((b, 0x1000UL), written);
        // mincore: the given-back pages left the host mapping (they are zero-filled again only when read; the checks
        // above read them, so count before that on a fresh range).
        _driver.Memory.GetSpan(a + 0x80000, 0x80000).Fill(1);
        long touched = ResidentPages(region);
        _rings[2].Submit((a + 0x80000, 0x80000, true));
        _driver.Notify(2);
        Assert.Equal(touched - 0x80, ResidentPages(region));
        Assert.True(residentBefore > 0);
        Assert.Empty(_driver.Log);
    }

    [Fact]
    public void A_chain_that_loops_sets_needs_reset_with_one_log_line_and_a_reset_brings_the_device_back()
    {
        Start(VirtioBalloon.FeatureStatsQueue | VirtioBalloon.FeatureReporting, 4);
        _driver.WriteDescriptor(_rings[3].Descriptors, 0, 0x200000, 0x1000, Virtqueue.DescriptorNext | Virtqueue.DescriptorWrite, 1);
        _driver.WriteDescriptor(_rings[3].Descriptors, 1, 0x201000, 0x1000, Virtqueue.DescriptorNext | Virtqueue.DescriptorWrite, 0);
        _rings[3].Publish(0);
        _driver.Notify(3);
        Assert.True(_driver.Device.IsBroken);
        Assert.Single(_driver.Log);
        Assert.NotEqual(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
        // Statistics out of RAM on the other queue change nothing more.
        _rings[2].Submit((0xFFFF_0000, 10, false));
        _driver.Notify(2);
        Assert.Single(_driver.Log);

        Start(VirtioBalloon.FeatureStatsQueue, 3);
        Assert.False(_driver.Device.IsBroken);
        _rings[2].Submit((0xFFFF_0000, 10, false));
        _driver.Notify(2);
        Assert.True(_driver.Device.IsBroken);
        Assert.Equal(2, _driver.Log.Count);
    }

    [Fact]
    public void The_state_record_carries_target_actual_statistics_and_the_held_buffer()
    {
        Start(VirtioBalloon.FeatureStatsQueue, 3);
        _balloon.SetTargetPages(4000);
        _driver.WriteBar(_driver.Bar0 + VirtioPciDevice.DeviceConfigOffset + 4, 4, 3000);
        WriteStatistics(Data, (VirtioBalloonStatistics.MemoryAvailable, 123456));
        ushort head = _rings[2].Submit((Data, 10, false));
        _driver.Notify(2);
        var saved = _balloon.SaveState();
        Assert.Equal((4000u, 3000u, (int)head), (saved.TargetPages, saved.ActualPages, saved.HeldStatisticsHead));

        var transport = _driver.Device.SaveState();
        using var other = new FakeVirtioDriver(new VirtioBalloon());
        var copy = (VirtioBalloon)other.Device.Device;
        _driver.Memory.GetSpan(0, (int)FakeVirtioDriver.RamSize).CopyTo(other.Memory.GetSpan(0, (int)FakeVirtioDriver.RamSize));
        other.Device.RestoreState(transport);
        Assert.True(other.Device.IsLive, string.Join("; ", other.Log));
        Assert.True(copy.StatisticsNegotiated);
        copy.RestoreState(saved with { });
        Assert.Equal(4000u, copy.TargetPages);
        Assert.Equal(3000u, copy.ActualPages);
        Assert.Equal(123456UL, copy.Statistics![VirtioBalloonStatistics.MemoryAvailable]);
        Assert.Equal(saved, copy.SaveState() with { Statistics = saved.Statistics, StatisticsReceivedAt = saved.StatisticsReceivedAt });
        // The restored device can hand the held buffer back.
        Assert.True(copy.RequestStatistics());
    }

    private static unsafe long ResidentPages(GuestMemoryRegion region)
    {
        var vector = new byte[region.Size / 4096];
        fixed (byte* residency = vector) Assert.Equal(0, Libc.mincore(region.HostAddress, (nuint)region.Size, residency));
        return vector.Count(x => (x & 1) != 0);
    }

    /// <summary>One split virtqueue's rings at fixed addresses, as a driver lays them out.</summary>
    private sealed class Ring(FakeVirtioDriver driver, int index, ulong at)
    {
        private ushort _next, _available;
        public ulong Descriptors => at;
        public ulong Available => at + 0x1000;
        public ulong Used => at + 0x2000;
        public int Index => index;
        public ushort UsedIndex => driver.Memory.ReadUInt16(Used + 2);
        public (uint Id, uint Length) UsedElement(int slot) =>
            (driver.Memory.ReadUInt32(Used + 4 + 8UL * (ulong)slot), driver.Memory.ReadUInt32(Used + 8 + 8UL * (ulong)slot));

        public ushort Submit(params (ulong Address, uint Length, bool Writable)[] buffers)
        {
            ushort head = _next;
            for (int i = 0; i < buffers.Length; i++)
            {
                ushort d = (ushort)((head + i) % Size);
                ushort flags = (ushort)((buffers[i].Writable ? Virtqueue.DescriptorWrite : 0) | (i + 1 < buffers.Length ? Virtqueue.DescriptorNext : 0));
                driver.WriteDescriptor(Descriptors, d, buffers[i].Address, buffers[i].Length, flags, (ushort)((d + 1) % Size));
            }
            _next = (ushort)((head + buffers.Length) % Size);
            Publish(head);
            return head;
        }

        public void Publish(ushort head)
        {
            driver.Memory.WriteUInt16(Available + 4 + 2UL * (ulong)(_available % Size), head);
            _available++;
            driver.Memory.WriteUInt16(Available + 2, _available);
        }
    }
}
