namespace Sharpvisor.TestGuests;

/// <summary>
/// How every test guest talks to the outside: one line "PASS name" or "FAIL name: reason" on COM1, then its status
/// written to the debug-exit port (QEMU's isa-debug-exit convention, so the VMM process exits with (status &lt;&lt; 1) | 1).
/// </summary>
public static class TestGuestProtocol
{
    public const ushort SerialPort = 0x3F8;
    public const ushort DebugExitPort = 0xF4;
    public const ushort DebugExitPortCount = 4;

    public const int DebugExitPassValue = 0;
    public const int DebugExitFailValue = 1;

    /// <summary>Exit status of a VMM with an isa-debug-exit device after the guest passed: (0 &lt;&lt; 1) | 1.</summary>
    public const int ExitCodeOnPass = (DebugExitPassValue << 1) | 1;
    /// <summary>Exit status of a VMM with an isa-debug-exit device after the guest failed: (1 &lt;&lt; 1) | 1.</summary>
    public const int ExitCodeOnFail = (DebugExitFailValue << 1) | 1;

    public const string PassPrefix = "PASS ";
    public const string FailPrefix = "FAIL ";

    /// <summary>A guest that reads serial input first prints the line "&lt;name&gt;: ready". Input sent earlier is
    /// fine on a VMM that boots the guest directly, but firmware with a serial console (SeaBIOS on QEMU's pc
    /// machine) may swallow it, so such a harness waits for this line.</summary>
    public const string ReadyForInputSuffix = ": ready";

    /// <summary>QEMU's pc-testdev: a 32-bit echo register at ports 0xE0-0xE3 (bytewise again at 0xE8-0xEB) and
    /// 64 KiB of echo memory at 0xFF000000.</summary>
    public const ushort EchoPort = 0xE0;
    public const ushort EchoBytePort = 0xE8;
    public const ulong EchoMemoryAddress = 0xFF00_0000;
    public const int EchoMemorySize = 0x10000;
}
