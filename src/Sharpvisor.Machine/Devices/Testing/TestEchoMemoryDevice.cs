using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Testing;

/// <summary>
/// The MMIO half of QEMU's pc-testdev: 64 KiB at 0xFF000000 that keep whatever bytes are written and return them,
/// for accesses of any width (QEMU splits 8-byte accesses into two little-endian 4-byte ones; the bytes stored are the
/// same). It starts zeroed. Parts of an access that would fall past the end are dropped on write and read as 0.
/// Unlike QEMU, which rejects misaligned accesses to this region, misaligned accesses simply work here.
/// </summary>
public sealed class TestEchoMemoryDevice : IBusDevice, IStatefulDevice<TestEchoMemoryDeviceState>
{
    public const ulong DefaultAddress = 0xFF00_0000;
    public const int Size = 0x10000;

    private readonly byte[] _bytes = new byte[Size];
    private readonly Lock _lock = new();

    public void Read(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (offset >= Size) return;
        int n = (int)Math.Min((ulong)data.Length, Size - offset);
        lock (_lock) _bytes.AsSpan((int)offset, n).CopyTo(data);
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset >= Size) return;
        int n = (int)Math.Min((ulong)data.Length, Size - offset);
        lock (_lock) data[..n].CopyTo(_bytes.AsSpan((int)offset, n));
    }

    public string StateKey => "test-echo-memory";

    public TestEchoMemoryDeviceState SaveState()
    {
        lock (_lock)
            return new TestEchoMemoryDeviceState
            {
                Bytes = (byte[])_bytes.Clone(),
            };
    }

    public void RestoreState(TestEchoMemoryDeviceState state)
    {
        if (state.Bytes.Length != Size)
            throw new ArgumentException($"echo memory state holds {state.Bytes.Length} bytes, not {Size}", nameof(state));
        lock (_lock) state.Bytes.CopyTo(_bytes, 0);
    }
}
