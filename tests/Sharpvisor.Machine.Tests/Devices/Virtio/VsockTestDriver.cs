using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Devices.Virtio.Vsock;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>
/// A guest's virtio-vsock driver against a <see cref="VirtioVsock"/>: all three queues live at once (receive, transmit,
/// event, each with rings of its own), packets built and parsed as the guest sees them.
/// </summary>
public sealed class VsockTestDriver : IDisposable
{
    public const ushort Size = 64;
    public const ulong GuestCid = 3;
    private readonly TestQueue[] _queues;
    private ulong _nextBuffer = 0x200000;

    public VsockTestDriver(string udsPath)
    {
        Device = new VirtioVsock(GuestCid, udsPath);
        Driver = new FakeVirtioDriver(Device);
        _queues = [new TestQueue(Driver, 0, 0x10000), new TestQueue(Driver, 1, 0x40000), new TestQueue(Driver, 2, 0x70000)];
    }

    public VirtioVsock Device { get; }
    public FakeVirtioDriver Driver { get; }
    public TestQueue Receive => _queues[VirtioVsock.ReceiveQueue];
    public TestQueue Transmit => _queues[VirtioVsock.TransmitQueue];
    public TestQueue Events => _queues[VirtioVsock.EventQueue];

    /// <summary>Negotiates, programs the three queues, sets DRIVER_OK and posts <paramref name="receiveBuffers"/> receive buffers (header and 4 KiB apart, as Linux 6.1 does).</summary>
    public void Start(int receiveBuffers = 16, int eventBuffers = 4)
    {
        Assert.True(Driver.Negotiate());
        foreach (var queue in _queues) queue.Program();
        Driver.WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1,
            VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk);
        Assert.True(Driver.Device.IsLive);
        for (int i = 0; i < receiveBuffers; i++) PostReceiveBuffer();
        for (int i = 0; i < eventBuffers; i++) Events.Submit((Allocate(8), 8, true));
        Driver.Notify(VirtioVsock.EventQueue);
    }

    public void PostReceiveBuffer(uint payloadSpace = 4096)
    {
        Receive.Submit((Allocate(VsockHeader.Length), VsockHeader.Length, true), (Allocate(payloadSpace), payloadSpace, true));
        Driver.Notify(VirtioVsock.ReceiveQueue);
    }

    public ulong Allocate(uint length)
    {
        ulong at = _nextBuffer;
        _nextBuffer += (length + 0xFFFUL) & ~0xFFFUL;
        if (_nextBuffer > FakeVirtioDriver.RamSize) throw new InvalidOperationException("the test ran out of guest buffers");
        return at;
    }

    /// <summary>Sends one packet from the guest (header and payload in two descriptors) and waits for the device to take it.</summary>
    public void Send(ushort op, uint sourcePort, uint destinationPort, ReadOnlySpan<byte> payload = default, uint flags = 0,
        uint bufferAllocation = 256 * 1024, uint forwardCount = 0, ushort type = VsockHeader.TypeStream, ulong sourceCid = GuestCid)
    {
        var header = new VsockHeader
        {
            SourceCid = sourceCid, DestinationCid = VirtioVsock.HostCid, SourcePort = sourcePort, DestinationPort = destinationPort,
            PayloadLength = (uint)payload.Length, Type = type, Op = op, Flags = flags, BufferAllocation = bufferAllocation,
            ForwardCount = forwardCount,
        };
        Span<byte> bytes = stackalloc byte[VsockHeader.Length];
        header.Write(bytes);
        ulong at = Allocate(VsockHeader.Length);
        Driver.Memory.Write(at, bytes);
        if (payload.IsEmpty) Transmit.Submit((at, VsockHeader.Length, false));
        else
        {
            ulong data = Allocate((uint)payload.Length);
            Driver.Memory.Write(data, payload);
            Transmit.Submit((at, VsockHeader.Length, false), (data, (uint)payload.Length, false));
        }
        Driver.Notify(VirtioVsock.TransmitQueue);
        Assert.True(Transmit.WaitUsed(Transmit.Published), "the device did not take the packet");
    }

    /// <summary>Waits for the next packet the device puts in the receive queue: its header and payload.</summary>
    public (VsockHeader Header, byte[] Payload) NextPacket(int timeoutMs = 5000)
    {
        int slot = Receive.Consumed;
        Assert.True(Receive.WaitUsed((ushort)(slot + 1), timeoutMs), $"no packet from the device (used index {Receive.UsedIndex})");
        Receive.Consumed++;
        var (id, length) = Receive.UsedElement(slot);
        ulong headerAt = Receive.BufferOf((ushort)id);
        var header = VsockHeader.Read(Driver.Memory.GetSpan(headerAt, VsockHeader.Length));
        Assert.Equal((uint)VsockHeader.Length + header.PayloadLength, length);
        ulong payloadAt = Receive.BufferOf((ushort)((id + 1) % Size));
        return (header, Driver.Memory.GetSpan(payloadAt, (int)header.PayloadLength).ToArray());
    }

    public void Dispose() => Driver.Dispose();

    /// <summary>One queue's rings at <c>base</c> (descriptors), <c>base+0x1000</c> (available), <c>base+0x2000</c> (used).</summary>
    public sealed class TestQueue(FakeVirtioDriver driver, int index, ulong @base)
    {
        private ushort _nextDescriptor;
        public ushort Published { get; private set; }
        public int Consumed { get; set; }
        private ulong Descriptors => @base;
        private ulong Available => @base + 0x1000;
        private ulong Used => @base + 0x2000;

        public void Program()
        {
            driver.Memory.GetSpan(@base, 0x3000).Clear();
            _nextDescriptor = 0;
            Published = 0;
            Consumed = 0;
            driver.WriteCommon(VirtioPciDevice.QueueSelectRegister, 2, (ulong)index);
            driver.WriteCommon(VirtioPciDevice.QueueSizeRegister, 2, Size);
            driver.WriteCommon(VirtioPciDevice.QueueDescRegister, 8, Descriptors);
            driver.WriteCommon(VirtioPciDevice.QueueDriverRegister, 8, Available);
            driver.WriteCommon(VirtioPciDevice.QueueDeviceRegister, 8, Used);
            driver.WriteCommon(VirtioPciDevice.QueueEnableRegister, 2, 1);
        }

        public void Submit(params (ulong Address, uint Length, bool Writable)[] buffers)
        {
            ushort head = _nextDescriptor;
            for (int i = 0; i < buffers.Length; i++)
            {
                ushort at = (ushort)((head + i) % Size);
                ushort flags = (ushort)((buffers[i].Writable ? Virtqueue.DescriptorWrite : 0) | (i + 1 < buffers.Length ? Virtqueue.DescriptorNext : 0));
                driver.WriteDescriptor(Descriptors, at, buffers[i].Address, buffers[i].Length, flags, (ushort)((at + 1) % Size));
            }
            _nextDescriptor = (ushort)((head + buffers.Length) % Size);
            driver.Memory.WriteUInt16(Available + 4 + 2UL * (ushort)(Published % Size), head);
            Published++;
            driver.Memory.WriteUInt16(Available + 2, Published);
        }

        public ulong BufferOf(ushort descriptor) => driver.Memory.ReadUInt64(Descriptors + 16UL * descriptor);
        public ushort UsedIndex => driver.Memory.ReadUInt16(Used + 2);
        public (uint Id, uint Length) UsedElement(int slot) =>
            (driver.Memory.ReadUInt32(Used + 4 + 8UL * (ulong)(slot % Size)), driver.Memory.ReadUInt32(Used + 8 + 8UL * (ulong)(slot % Size)));

        public bool WaitUsed(ushort count, int timeoutMs = 5000)
        {
            var deadline = Environment.TickCount64 + timeoutMs;
            while (Environment.TickCount64 < deadline)
            {
                if ((short)(UsedIndex - count) >= 0) return true;
                if (driver.Device.IsBroken) return false;
                Thread.Sleep(1);
            }
            return (short)(UsedIndex - count) >= 0;
        }
    }
}
