using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Testing;

namespace Sharpvisor.Machine.Tests.Devices.Testing;

public class DebugExitDeviceTests
{
    [Theory]
    [InlineData(new byte[] { 0 }, 1)]
    [InlineData(new byte[] { 1 }, 3)]
    [InlineData(new byte[] { 0x10, 0 }, 0x21)]
    [InlineData(new byte[] { 0x00, 0x01, 0, 0 }, 0x201)]
    public void A_write_of_v_asks_for_exit_code_v_shifted_left_plus_one(byte[] written, int expected)
    {
        var codes = new List<int>();
        var bus = new PortIoBus();
        var device = new DebugExitDevice(codes.Add);
        bus.Register(DebugExitDevice.DefaultPort, DebugExitDevice.DefaultPortCount, device);
        Assert.Null(device.RequestedExitCode);
        bus.Write(DebugExitDevice.DefaultPort, written);
        Assert.Equal([expected], codes);
        Assert.Equal(expected, device.RequestedExitCode);
    }

    [Fact]
    public void Reads_return_zero_and_every_port_of_the_range_exits()
    {
        var codes = new List<int>();
        var device = new DebugExitDevice(codes.Add);
        Span<byte> data = stackalloc byte[4];
        data.Fill(0xFF);
        device.Read(0, data);
        Assert.Equal(0u, BitConverter.ToUInt32(data));
        device.Write(3, new byte[] { 2 });
        device.Write(0, ReadOnlySpan<byte>.Empty);                          // nothing written, nothing asked
        Assert.Equal([5], codes);
        Assert.Equal(unchecked((int)0xFFFF_FFFF), DebugExitDevice.ExitCodeFor(0xFFFF_FFFF));
    }

    [Fact]
    public void State_round_trips()
    {
        var device = new DebugExitDevice(_ => { });
        device.Write(0, new byte[] { 1 });
        var restored = new DebugExitDevice(_ => { });
        restored.RestoreState(device.SaveState());
        Assert.Equal(3, restored.RequestedExitCode);
        restored.RestoreState(new DebugExitDeviceState());
        Assert.Null(restored.RequestedExitCode);
    }
}
