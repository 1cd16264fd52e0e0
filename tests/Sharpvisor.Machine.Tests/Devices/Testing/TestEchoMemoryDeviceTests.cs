using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Testing;

namespace Sharpvisor.Machine.Tests.Devices.Testing;

public class TestEchoMemoryDeviceTests
{
    [Fact]
    public void Stores_and_returns_bytes_at_every_width_little_endian()
    {
        var bus = new MmioBus();
        var device = new TestEchoMemoryDevice();
        bus.Register(TestEchoMemoryDevice.DefaultAddress, TestEchoMemoryDevice.Size, device);
        ulong at = TestEchoMemoryDevice.DefaultAddress + 0x100;
        bus.Write(at, BitConverter.GetBytes(0x0123_4567_89AB_CDEFUL));
        Span<byte> one = stackalloc byte[1], two = stackalloc byte[2], four = stackalloc byte[4], eight = stackalloc byte[8];
        bus.Read(at + 3, one);
        Assert.Equal(0x89, one[0]);
        bus.Read(at + 6, two);
        Assert.Equal(0x0123, BitConverter.ToUInt16(two));
        bus.Read(at + 4, four);
        Assert.Equal(0x0123_4567u, BitConverter.ToUInt32(four));
        bus.Write(at + 2, new byte[] { 0xAA, 0xBB });
        bus.Read(at, eight);
        Assert.Equal(0x0123_4567_BBAA_CDEFUL, BitConverter.ToUInt64(eight));
    }

    [Fact]
    public void Starts_zeroed_and_clips_accesses_at_its_end()
    {
        var device = new TestEchoMemoryDevice();
        Span<byte> data = stackalloc byte[8];
        data.Fill(0x77);
        device.Read(0x8000, data);
        Assert.Equal(0UL, BitConverter.ToUInt64(data));
        device.Write(TestEchoMemoryDevice.Size - 2, new byte[] { 1, 2, 3, 4 });
        data.Fill(0x77);
        device.Read(TestEchoMemoryDevice.Size - 2, data[..4]);
        Assert.Equal(new byte[] { 1, 2, 0, 0 }, data[..4].ToArray());
        device.Write(TestEchoMemoryDevice.Size + 10, new byte[] { 9 });          // ignored, no throw
        device.Read(ulong.MaxValue, data);
        Assert.Equal(0UL, BitConverter.ToUInt64(data));
    }

    [Fact]
    public void State_round_trips()
    {
        var device = new TestEchoMemoryDevice();
        device.Write(0x10, new byte[] { 5, 6, 7 });
        var state = device.SaveState();
        device.Write(0x10, new byte[] { 0, 0, 0 });
        Assert.Equal(5, state.Bytes[0x10]);                                       // a copy, not the live buffer
        var restored = new TestEchoMemoryDevice();
        restored.RestoreState(state);
        Span<byte> data = stackalloc byte[3];
        restored.Read(0x10, data);
        Assert.Equal(new byte[] { 5, 6, 7 }, data.ToArray());
        Assert.Throws<ArgumentException>(() => restored.RestoreState(state with { Bytes = new byte[16] }));
    }
}
