using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Testing;

/// <summary>
/// The port half of QEMU's pc-testdev, so a test guest sees the same thing on QEMU (-device pc-testdev) and here.
/// It occupies 12 ports from 0xE0:
/// <list type="bullet">
/// <item>0xE0-0xE3: one 32-bit little-endian register. An access of 1, 2 or 4 bytes at port 0xE0+k touches the bytes
/// from k on: a write replaces just those bytes, a read returns them. Bytes that would lie past 0xE3 are dropped on
/// write and read as 0.</item>
/// <item>0xE4-0xE7: QEMU's "flush page" port (it re-protects a host page to exercise KVM's fault paths). It has no
/// effect a guest can see, so here writes are ignored and reads return 0.</item>
/// <item>0xE8-0xEB: the same register again, reached one byte at a time (QEMU splits wider accesses into bytes,
/// which gives the same result as above).</item>
/// </list>
/// QEMU's pc-testdev also has IRQ-raising ports at 0x2000; this device does not model them.
/// </summary>
public sealed class TestEchoPortDevice : IBusDevice, IStatefulDevice<TestEchoPortDeviceState>
{
    public const ushort DefaultPort = 0xE0;
    public const ushort PortCount = 12;

    private const int RegisterOffset = 0;       // 0xE0
    private const int ByteRegisterOffset = 8;   // 0xE8; the flush port 0xE4-0xE7 lies between

    private uint _register;

    /// <summary>The 32-bit register as it stands.</summary>
    public uint Register => Volatile.Read(ref _register);

    public void Read(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (!TryRegisterByte(offset, out int first)) return;
        uint value = Volatile.Read(ref _register);
        for (int i = 0; i < data.Length && first + i < 4; i++)
            data[i] = (byte)(value >> (8 * (first + i)));
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (!TryRegisterByte(offset, out int first)) return;
        uint mask = 0, bits = 0;
        for (int i = 0; i < data.Length && first + i < 4; i++)
        {
            int shift = 8 * (first + i);
            mask |= 0xFFu << shift;
            bits |= (uint)data[i] << shift;
        }
        // Lock-free read-modify-write: vCPU threads may poke different bytes at once.
        uint seen = Volatile.Read(ref _register);
        while (true)
        {
            uint next = (seen & ~mask) | bits;
            uint found = Interlocked.CompareExchange(ref _register, next, seen);
            if (found == seen) return;
            seen = found;
        }
    }

    /// <summary>Which byte of the register an offset names; false for the flush port and anything outside.</summary>
    private static bool TryRegisterByte(ulong offset, out int first)
    {
        if (offset < RegisterOffset + 4) { first = (int)offset - RegisterOffset; return true; }
        if (offset >= ByteRegisterOffset && offset < ByteRegisterOffset + 4) { first = (int)offset - ByteRegisterOffset; return true; }
        first = 0;
        return false;
    }

    public string StateKey => "test-echo-port";

    public TestEchoPortDeviceState SaveState() => new()
    {
        Register = Register,
    };

    public void RestoreState(TestEchoPortDeviceState state)
    {
        Volatile.Write(ref _register, state.Register);
    }
}
