using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Testing;

/// <summary>
/// A port that lets a test guest end the VM with a status, with the semantics of QEMU's isa-debug-exit:
/// a write of value v (1, 2 or 4 bytes, little-endian, zero-extended) at any offset of the range asks the VMM to
/// exit with code (v &lt;&lt; 1) | 1. The code is therefore always odd, so it can never be mistaken for a plain
/// successful exit (0): a guest that writes 0 for "pass" makes the VMM exit with 1, and 1 for "fail" gives 3.
/// A process exit status keeps only the low 8 bits, as with QEMU. Reads return 0, as QEMU's do.
/// Test guests use port 0xF4 with 4 ports (QEMU: -device isa-debug-exit,iobase=0xf4,iosize=4).
/// </summary>
public sealed class DebugExitDevice(Action<int> onExit) : IBusDevice, IStatefulDevice<DebugExitDeviceState>
{
    public const ushort DefaultPort = 0xF4;
    public const ushort DefaultPortCount = 4;

    private readonly Action<int> _onExit = onExit ?? throw new ArgumentNullException(nameof(onExit));
    private int _requested;      // 0 = nothing requested yet (a real code is always odd)

    /// <summary>The exit code the guest asked for last, or null if it never wrote to the port.</summary>
    public int? RequestedExitCode
    {
        get
        {
            int code = Volatile.Read(ref _requested);
            return code == 0 ? null : code;
        }
    }

    /// <summary>The exit code QEMU's isa-debug-exit derives from a written value.</summary>
    public static int ExitCodeFor(uint value) => unchecked((int)((value << 1) | 1));

    public void Read(ulong offset, Span<byte> data) => data.Clear();

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        uint value = 0;
        int n = Math.Min(data.Length, 4);
        for (int i = 0; i < n; i++) value |= (uint)data[i] << (8 * i);
        int code = ExitCodeFor(value);
        Volatile.Write(ref _requested, code);
        _onExit(code);
    }

    public string StateKey => "debug-exit";

    public DebugExitDeviceState SaveState() => new()
    {
        RequestedExitCode = RequestedExitCode,
    };

    public void RestoreState(DebugExitDeviceState state)
    {
        Volatile.Write(ref _requested, state.RequestedExitCode ?? 0);
    }
}
