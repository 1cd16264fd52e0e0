using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Testing;

namespace Sharpvisor.Machine.Tests.Devices.Testing;

public class TestEchoPortDeviceTests
{
    private static (PortIoBus Bus, TestEchoPortDevice Device) Create()
    {
        var bus = new PortIoBus();
        var device = new TestEchoPortDevice();
        bus.Register(TestEchoPortDevice.DefaultPort, TestEchoPortDevice.PortCount, device);
        return (bus, device);
    }

    private static uint In(PortIoBus bus, ushort port, int width)
    {
        Span<byte> data = stackalloc byte[width];
        bus.Read(port, data);
        uint v = 0;
        for (int i = 0; i < width; i++) v |= (uint)data[i] << (8 * i);
        return v;
    }

    private static void Out(PortIoBus bus, ushort port, int width, uint value)
    {
        Span<byte> data = stackalloc byte[width];
        for (int i = 0; i < width; i++) data[i] = (byte)(value >> (8 * i));
        bus.Write(port, data);
    }

    [Fact]
    public void Narrow_accesses_touch_only_their_bytes_of_the_register()
    {
        var (bus, device) = Create();
        Out(bus, 0xE0, 4, 0x1122_3344);
        Assert.Equal(0x1122_3344u, device.Register);
        Out(bus, 0xE1, 1, 0xAA);
        Assert.Equal(0x1122_AA44u, In(bus, 0xE0, 4));
        Out(bus, 0xE2, 2, 0xBBCC);
        Assert.Equal(0xBBCC_AA44u, In(bus, 0xE0, 4));
        Assert.Equal(0xBBCCu, In(bus, 0xE2, 2));
        Assert.Equal(0xAAu, In(bus, 0xE1, 1));
        Assert.Equal(0xBBu, In(bus, 0xE3, 1));
    }

    [Fact]
    public void Byte_ports_alias_the_same_register()
    {
        var (bus, _) = Create();
        Out(bus, 0xE8, 4, 0xCAFE_BABE);
        Assert.Equal(0xCAFE_BABEu, In(bus, 0xE0, 4));
        Out(bus, 0xE2, 2, 0x1234);
        Assert.Equal(0x1234_BABEu, In(bus, 0xE8, 4));
        Assert.Equal(0x12u, In(bus, 0xEB, 1));
    }

    [Fact]
    public void Flush_port_reads_zero_and_ignores_writes_and_bytes_past_the_register_are_dropped()
    {
        var (bus, device) = Create();
        Out(bus, 0xE0, 4, 0xDEAD_BEEF);
        Out(bus, 0xE4, 4, 0x0012_3000);
        Assert.Equal(0u, In(bus, 0xE4, 4));
        Assert.Equal(0xDEAD_BEEFu, device.Register);
        Out(bus, 0xE3, 2, 0x5566);                     // only 0x66 lands in byte 3
        Assert.Equal(0x66AD_BEEFu, device.Register);
        Assert.Equal(0x0066u, In(bus, 0xE3, 2));
    }

    [Fact]
    public void State_round_trips()
    {
        var (bus, device) = Create();
        Out(bus, 0xE0, 4, 0x0BAD_F00D);
        var state = device.SaveState();
        var restored = new TestEchoPortDevice();
        restored.RestoreState(state);
        Assert.Equal(0x0BAD_F00Du, restored.Register);
    }
}
