using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Testing;
using Sharpvisor.TestGuests;
using Sharpvisor.TestGuests.Guests;

namespace Sharpvisor.Vmm.Tests.TestGuests;

/// <summary>
/// The io-echo script's expected values are checked against QEMU's pc-testdev by the QEMU run; replaying the same
/// script against our devices shows they behave the same way.
/// </summary>
public class EchoScriptTests
{
    [Fact]
    public void Our_echo_devices_answer_the_io_echo_script_as_pc_testdev_does()
    {
        var ports = new PortIoBus();
        var mmio = new MmioBus();
        ports.Register(TestEchoPortDevice.DefaultPort, TestEchoPortDevice.PortCount, new TestEchoPortDevice());
        mmio.Register(TestEchoMemoryDevice.DefaultAddress, TestEchoMemoryDevice.Size, new TestEchoMemoryDevice());
        Span<byte> buffer = stackalloc byte[8];
        int reads = 0;
        foreach (var op in EchoScript.Operations)
        {
            Bus bus = op.Space == EchoSpace.Port ? ports : mmio;
            var data = buffer[..op.Width];
            if (op.IsWrite)
            {
                for (int i = 0; i < op.Width; i++) data[i] = (byte)(op.Value >> (8 * i));
                Assert.True(bus.Write(op.Address, data), $"{op}: nothing there");
                continue;
            }
            Assert.True(bus.Read(op.Address, data), $"{op}: nothing there");
            ulong value = 0;
            for (int i = 0; i < op.Width; i++) value |= (ulong)data[i] << (8 * i);
            Assert.True(op.Value == value, $"{op}: got 0x{value:x}, expected 0x{op.Value:x}");
            reads++;
        }
        Assert.True(reads > 50);
    }

    [Fact]
    public void Script_covers_every_width_in_both_spaces_and_the_bytewise_ports()
    {
        var ops = EchoScript.Operations;
        foreach (int width in new[] { 1, 2, 4 })
        {
            Assert.Contains(ops, o => o.Space == EchoSpace.Port && o.IsWrite && o.Width == width);
            Assert.Contains(ops, o => o.Space == EchoSpace.Port && !o.IsWrite && o.Width == width);
        }
        foreach (int width in new[] { 1, 2, 4, 8 })
        {
            Assert.Contains(ops, o => o.Space == EchoSpace.Memory && o.IsWrite && o.Width == width);
            Assert.Contains(ops, o => o.Space == EchoSpace.Memory && !o.IsWrite && o.Width == width);
        }
        Assert.Contains(ops, o => o.Space == EchoSpace.Port && o.Address == TestGuestProtocol.EchoBytePort);
        Assert.Contains(ops, o => o.Space == EchoSpace.Memory && o.Offset + (ulong)o.Width == TestGuestProtocol.EchoMemorySize);
        Assert.DoesNotContain(ops, o => o.Offset % (ulong)o.Width != 0);
    }
}
