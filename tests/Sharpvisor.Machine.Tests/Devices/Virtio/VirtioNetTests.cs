using System.Buffers.Binary;
using Sharpvisor.Machine.Devices.Virtio;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>virtio-net through the PCI transport with an in-memory backend: configuration, transmit, receive, bad chains, pause, state.</summary>
public sealed class VirtioNetTests : IDisposable
{
    private static readonly byte[] Mac = [0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF];
    private const ulong Data = FakeVirtioDriver.DataArea;
    private const uint MsiData = 0x61;

    private readonly InMemoryNetBackend _backend = new();
    private readonly VirtioNet _net;
    private readonly FakeVirtioDriver _driver;

    public VirtioNetTests()
    {
        _net = new VirtioNet(_backend, Mac);
        _driver = new FakeVirtioDriver(_net);
    }

    public void Dispose() => _driver.Dispose();

    /// <summary>Negotiates everything offered and makes the device live with queue <paramref name="queue"/> at the driver's fixed rings.</summary>
    private void Start(int queue)
    {
        _driver.EnableMsix(1, 0xFEE0_0000, MsiData);
        _driver.Start(msixVector: 1, queueIndex: queue);
        Assert.True(_driver.Device.IsLive);
    }

    private int Interrupts
    {
        get { lock (_driver.Interrupts.Messages) return _driver.Interrupts.Messages.Count(m => m.Data == MsiData); }
    }

    private static byte[] Frame(int length, int seed)
    {
        var frame = new byte[length];
        new Random(seed).NextBytes(frame);
        return frame;
    }

    [Fact]
    public void The_configuration_shows_the_MAC_link_up_one_queue_pair_and_the_MTU()
    {
        Assert.Equal(0x1041u, _driver.Device.ConfigSpace.Read(2, 2));
        Assert.Equal(0x020000u, _driver.Device.ConfigSpace.Read(8, 4) >> 8);
        ulong offered = _driver.OfferedFeatures();
        Assert.Equal(VirtioNet.FeatureMac | VirtioNet.FeatureStatus | VirtioNet.FeatureMtu | VirtioFeatures.Transport, offered);
        ulong config = _driver.Bar0 + VirtioPciDevice.DeviceConfigOffset;
        var mac = new byte[6];
        for (int i = 0; i < 6; i++) mac[i] = (byte)_driver.ReadBar(config + (ulong)i, 1);
        Assert.Equal(Mac, mac);
        Assert.Equal(VirtioNet.StatusLinkUp, (ushort)_driver.ReadBar(config + 6, 2));
        Assert.Equal(1UL, _driver.ReadBar(config + 8, 2));
        Assert.Equal(1500UL, _driver.ReadBar(config + 10, 2));
        Assert.Equal("52:54:00:ab:cd:ef", _net.MacAddress);

        // Writes from the driver change nothing; link down is a configuration change the driver hears about.
        _driver.WriteBar(config, 4, 0x11111111);
        Assert.Equal(Mac[0], (byte)_driver.ReadBar(config, 1));
        Start(0);
        byte generation = (byte)_driver.ReadCommon(VirtioPciDevice.ConfigGenerationRegister, 1);
        _net.SetLinkUp(false);
        Assert.Equal(0UL, _driver.ReadBar(config + 6, 2));
        Assert.NotEqual(generation, (byte)_driver.ReadCommon(VirtioPciDevice.ConfigGenerationRegister, 1));
    }

    [Fact]
    public void Transmitted_frames_reach_the_backend_without_the_header_with_one_interrupt_per_batch()
    {
        Start(VirtioNet.TransmitQueue);
        var frames = new[] { Frame(60, 1), Frame(1514, 2), Frame(700, 3) };
        // Chain 1: header and frame in one buffer; chain 2: header alone, frame in two pieces; chain 3: header split.
        ulong at = Data;
        _driver.Memory.GetSpan(at, 12).Fill(0);
        _driver.Memory.Write(at + 12, frames[0]);
        _driver.Submit((at, (uint)(12 + frames[0].Length), false));
        at += 0x1000;
        _driver.Memory.Write(at + 0x100, frames[1].AsSpan(0, 1000));
        _driver.Memory.Write(at + 0x800, frames[1].AsSpan(1000));
        _driver.Submit((at, 12, false), (at + 0x100, 1000, false), (at + 0x800, 514, false));
        at += 0x1000;
        _driver.Memory.Write(at + 0x100, frames[2]);
        _driver.Submit((at, 5, false), (at + 0x10, 7, false), (at + 0x100, 700, false), (at + 0x900, 64, true));
        _driver.Notify(VirtioNet.TransmitQueue);

        Assert.True(_driver.WaitUsed(3), "the transmit chains did not complete");
        Assert.Equal(frames, _backend.Sent);
        for (int i = 0; i < 3; i++) Assert.Equal(0u, _driver.UsedElement(i).Length);
        Assert.Equal(3, _net.FramesSent);
        Assert.Equal(1, _net.TransmitBatches);
        Assert.True(SpinWait.SpinUntil(() => Interrupts == 1, 2000));
    }

    [Fact]
    public void Frames_the_backend_refuses_or_that_are_too_short_are_counted_not_fatal()
    {
        Start(VirtioNet.TransmitQueue);
        _backend.FailSends = true;
        _driver.Submit((Data, 12 + 60, false));
        _driver.Submit((Data, 12 + 10, false));     // shorter than an Ethernet header
        _driver.Notify(VirtioNet.TransmitQueue);
        Assert.True(_driver.WaitUsed(2));
        Assert.Equal(1, _net.TransmitErrors);
        Assert.Equal(1, _net.TransmitDropped);
        Assert.False(_driver.Device.IsBroken);
        Assert.Empty(_driver.Log);
    }

    [Fact]
    public async Task Received_frames_land_after_a_header_that_asks_nothing_and_one_buffer_each()
    {
        Start(VirtioNet.ReceiveQueue);
        for (int i = 0; i < 4; i++)
        {
            _driver.Memory.GetSpan(Data + (ulong)i * 0x1000, 0x1000).Fill(0xEE);
            _driver.Submit((Data + (ulong)i * 0x1000, 12 + 1518, true));
        }
        _driver.Notify(VirtioNet.ReceiveQueue);
        var frames = new[] { Frame(1514, 10), Frame(42, 11) };
        Assert.True(await _backend.Inject(frames[0]).WaitAsync(TimeSpan.FromSeconds(5)));
        // Event index: the driver asks for the next interrupt once the used index passes 1 (used_event = 1).
        _driver.Memory.WriteUInt16(FakeVirtioDriver.AvailableRing + 4 + 2UL * FakeVirtioDriver.DefaultQueueSize, 1);
        Assert.True(await _backend.Inject(frames[1]).WaitAsync(TimeSpan.FromSeconds(5)));

        Assert.Equal(2, _driver.UsedIndex);
        for (int i = 0; i < frames.Length; i++)
        {
            var (id, length) = _driver.UsedElement(i);
            Assert.Equal((uint)i, id);
            Assert.Equal((uint)(12 + frames[i].Length), length);
            ulong buffer = Data + (ulong)i * 0x1000;
            var header = _driver.Memory.GetSpan(buffer, 12).ToArray();
            Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, header);    // num_buffers = 1
            Assert.Equal(frames[i], _driver.Memory.GetSpan(buffer + 12, frames[i].Length).ToArray());
            Assert.Equal(0xEE, _driver.Memory.ReadByte(buffer + 12 + (ulong)frames[i].Length));
        }
        Assert.Equal(2, _net.FramesReceived);
        Assert.Equal(2, _net.ReceiveBatches);
        Assert.True(SpinWait.SpinUntil(() => Interrupts == 2, 2000), $"{Interrupts} interrupts for two batches");
    }

    [Fact]
    public async Task A_frame_spread_over_a_chain_of_small_buffers_is_written_across_them()
    {
        Start(VirtioNet.ReceiveQueue);
        _driver.Submit((Data, 12, true), (Data + 0x1000, 100, true), (Data + 0x2000, 2000, true));
        _driver.Notify(VirtioNet.ReceiveQueue);
        var frame = Frame(600, 20);
        Assert.True(await _backend.Inject(frame).WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(612u, _driver.UsedElement(0).Length);
        Assert.Equal(frame.AsSpan(0, 100).ToArray(), _driver.Memory.GetSpan(Data + 0x1000, 100).ToArray());
        Assert.Equal(frame.AsSpan(100).ToArray(), _driver.Memory.GetSpan(Data + 0x2000, 500).ToArray());
    }

    [Fact]
    public async Task Reception_waits_for_buffers_and_a_frame_too_big_for_one_is_dropped_with_the_buffer_returned_empty()
    {
        Start(VirtioNet.ReceiveQueue);
        var waiting = _backend.Inject(Frame(1000, 30));
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted, "the frame was taken without a buffer");
        Assert.Equal(0, _driver.UsedIndex);

        _driver.Submit((Data, 12 + 1518, true));
        _driver.Notify(VirtioNet.ReceiveQueue);
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1012u, _driver.UsedElement(0).Length);

        _driver.Submit((Data, 200, true));
        _driver.Notify(VirtioNet.ReceiveQueue);
        Assert.False(await _backend.Inject(Frame(1514, 31)).WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(2, _driver.UsedIndex);
        Assert.Equal(0u, _driver.UsedElement(1).Length);
        Assert.Equal(1, _net.ReceiveDropped);
        Assert.False(_driver.Device.IsBroken);
    }

    [Fact]
    public async Task Frames_for_a_device_that_is_not_live_are_dropped_at_once()
    {
        Start(VirtioNet.ReceiveQueue);
        _driver.WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1, 0);    // driver resets the device
        Assert.False(await _backend.Inject(Frame(100, 40)).WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, _net.ReceiveDropped);
    }

    [Fact]
    public async Task While_paused_nothing_touches_the_queues_and_resuming_delivers()
    {
        Start(VirtioNet.ReceiveQueue);
        _driver.Submit((Data, 12 + 1518, true));
        _driver.Notify(VirtioNet.ReceiveQueue);
        _net.PauseProcessing();
        var waiting = _backend.Inject(Frame(500, 50));
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(0, _driver.UsedIndex);
        _net.ResumeProcessing();
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, _driver.UsedIndex);
    }

    [Fact]
    public void A_transmit_chain_without_a_header_sets_NEEDS_RESET_with_one_log_line_and_a_reset_recovers()
    {
        Start(VirtioNet.TransmitQueue);
        _driver.Submit((Data, 8, false));
        _driver.Notify(VirtioNet.TransmitQueue);
        Assert.True(SpinWait.SpinUntil(() => _driver.Device.IsBroken, 5000));
        Assert.True((_driver.Status & VirtioStatus.DeviceNeedsReset) != 0);
        Assert.Single(_driver.Log);
        Assert.Contains("no 12-byte header", _driver.Log[0]);
        Assert.Empty(_backend.Sent);

        // The driver resets and starts over; the device works again.
        var driver = _driver;
        Start(VirtioNet.TransmitQueue);
        Assert.False(driver.Device.IsBroken);
        driver.Submit((Data, 12 + 60, false));
        driver.Notify(VirtioNet.TransmitQueue);
        Assert.True(SpinWait.SpinUntil(() => _backend.Sent.Count == 1, 5000));
    }

    [Fact]
    public async Task A_receive_chain_outside_RAM_sets_NEEDS_RESET_and_the_frame_is_dropped()
    {
        Start(VirtioNet.ReceiveQueue);
        _driver.Submit((FakeVirtioDriver.RamSize + 0x1000, 1530, true));
        _driver.Notify(VirtioNet.ReceiveQueue);
        Assert.False(await _backend.Inject(Frame(100, 60)).WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(_driver.Device.IsBroken);
        Assert.Single(_driver.Log);
        Assert.Contains("not in RAM", _driver.Log[0]);
    }

    [Fact]
    public void State_holds_the_MAC_and_link_status_and_refuses_another_version()
    {
        _net.SetLinkUp(false);
        var state = _net.SaveState();
        Assert.Equal(new VirtioNetState { MacAddress = "52:54:00:ab:cd:ef", LinkUp = false }, state);

        using var other = new VirtioNet(new InMemoryNetBackend(), [0x52, 0x54, 0, 0, 0, 1]);
        other.RestoreState(state);
        Assert.Equal("52:54:00:ab:cd:ef", other.MacAddress);
        Assert.False(other.LinkUp);
        Span<byte> config = stackalloc byte[VirtioNet.ConfigLength];
        other.ReadConfig(0, config);
        Assert.Equal(Mac, config[..6].ToArray());
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(config[6..]));

        Assert.Throws<ArgumentException>(() => other.RestoreState(state with { MacAddress = "52:54:00" }));
    }

    /// <summary>The backend outlives the device (the next boot's device takes it over: a tap keeps its host side).</summary>
    [Fact]
    public void Disposing_the_device_stops_its_backend_which_the_next_device_starts_again()
    {
        using var backend = new InMemoryNetBackend();
        using (var driver = new FakeVirtioDriver(new VirtioNet(backend, Mac))) driver.Start(queueIndex: VirtioNet.TransmitQueue);
        Assert.Equal((1, 1), (backend.Starts, backend.Stops));
        Assert.False(backend.Disposed);
        using (var driver = new FakeVirtioDriver(new VirtioNet(backend, Mac))) driver.Start(queueIndex: VirtioNet.TransmitQueue);
        Assert.Equal((2, 2), (backend.Starts, backend.Stops));
        Assert.False(backend.Disposed);
    }

    [Theory]
    [InlineData("52:54:00:12:34:56", true)]
    [InlineData("52:54:00:12:34", false)]
    [InlineData("52:54:00:12:34:5g", false)]
    [InlineData("525:4:00:12:34:56", false)]
    [InlineData("", false)]
    public void MAC_addresses_parse_as_six_hex_bytes(string text, bool valid)
    {
        Assert.Equal(valid, VirtioNet.TryParseMac(text, out var mac));
        if (valid) Assert.Equal(text, VirtioNet.FormatMac(mac));
    }
}
