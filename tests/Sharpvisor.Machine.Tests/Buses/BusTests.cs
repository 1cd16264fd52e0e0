using Sharpvisor.Machine.Buses;

namespace Sharpvisor.Machine.Tests.Buses;

public class BusTests
{
    private sealed class Latch : IBusDevice
    {
        public ulong LastOffset;
        public byte Value;
        public void Read(ulong offset, Span<byte> data) { LastOffset = offset; data.Fill(Value); }
        public void Write(ulong offset, ReadOnlySpan<byte> data) { LastOffset = offset; Value = data[0]; }
    }

    [Fact]
    public void DispatchesByRangeWithOffsetsRelativeToTheBase()
    {
        var bus = new PortIoBus();
        var a = new Latch();
        var b = new Latch();
        bus.Register(0x3F8, 8, a);
        bus.Register(0x60, 1, b);
        Assert.True(bus.Write(0x3FB, [7]));
        Assert.Equal(3UL, a.LastOffset);
        Assert.Equal(7, a.Value);
        Span<byte> data = stackalloc byte[1];
        bus.Read(0x60, data);
        Assert.Same(b, bus.Mappings.Single(m => m.Base == 0x60).Device);
    }

    [Fact]
    public void UnclaimedReadsAreAllOnesAndCounted()
    {
        var bus = new MmioBus();
        Span<byte> data = stackalloc byte[4];
        Assert.False(bus.Read(0xD000_0000, data));
        Assert.Equal(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, data.ToArray());
        Assert.Equal(1, bus.UnclaimedAccesses);
    }

    [Fact]
    public void OverlappingRegistrationIsRefused()
    {
        var bus = new PortIoBus();
        bus.Register(0x3F8, 8, new Latch(), "COM1");
        var e = Assert.Throws<BusRangeConflictException>(() => bus.Register(0x3FF, 2, new Latch(), "other"));
        Assert.Contains("COM1", e.Message);
        bus.Register(0x400, 1, new Latch()); // adjacent is fine
    }
}
