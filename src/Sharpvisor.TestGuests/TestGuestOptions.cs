namespace Sharpvisor.TestGuests;

/// <summary>
/// Build-time parameters of the test guests. The defaults keep a QEMU TCG run of every guest to seconds; benchmarks
/// raise them. memory-writer also reads its parameters from the PVH command line, which wins over these defaults.
/// </summary>
public sealed record TestGuestOptions
{
    public static TestGuestOptions Default { get; } = new();

    /// <summary>ring3-compute: xorshift64 steps (about 10 instructions each).</summary>
    public ulong ComputeIterations { get; init; } = 30_000_000;

    /// <summary>ring3-compute: the xorshift64 seed (must not be 0).</summary>
    public ulong ComputeSeed { get; init; } = 0x9E37_79B9_7F4A_7C15;

    /// <summary>lapic-timer: timer interrupts to wait for.</summary>
    public int TimerTicks { get; init; } = 20;

    /// <summary>lapic-timer: initial count with the divider at 16; on the 1 GHz APIC bus QEMU and KVM model,
    /// 625000 is a 10 ms period.</summary>
    public uint TimerInitialCount { get; init; } = 625_000;

    /// <summary>memory-writer: pages dirtied per second unless the command line says pages_per_sec=.</summary>
    public uint MemoryWriterPagesPerSecond { get; init; } = 10_000;

    /// <summary>memory-writer: seconds (rounds) to run unless the command line says seconds=; 0 runs until stopped.</summary>
    public uint MemoryWriterSeconds { get; init; } = 2;

    /// <summary>memory-writer: buffer size in MiB unless the command line says buffer_mib=; it starts at 16 MiB.</summary>
    public uint MemoryWriterBufferMiB { get; init; } = 64;

    /// <summary>pio-loop: write/read pairs on the echo port unless the command line says iterations=.</summary>
    public uint PioLoopIterations { get; init; } = 100_000;

    /// <summary>serial-echo: TSC cycles to wait for a whole input line after the prompt before failing; the default of
    /// 10 G is about 3 to 10 s on TSCs of 1 to 3 GHz.</summary>
    public ulong SerialEchoWaitCycles { get; init; } = 10_000_000_000;

    /// <summary>virtio: TSC cycles to wait for a request's interrupt or used-ring entry before failing; the default of
    /// 20 G is several seconds, ample for an emulated device on a loaded host.</summary>
    public ulong VirtioWaitCycles { get; init; } = 20_000_000_000;

    /// <summary>IOPL of the ring-3 guests (io-echo, ring3-compute, memory-writer). 3 lets them use ports directly;
    /// 0 sends every ring-3 port access through the guest's #GP emulation, the path KVM-on-PVM always takes, so it
    /// can be tested on engines that honour IOPL.</summary>
    public int UserIopl { get; init; } = 3;

    public void Validate()
    {
        if (UserIopl is < 0 or > 3) throw new ArgumentOutOfRangeException(nameof(UserIopl), "IOPL is 0-3");
        if (ComputeIterations == 0) throw new ArgumentOutOfRangeException(nameof(ComputeIterations), "must be at least 1");
        if (ComputeSeed == 0) throw new ArgumentOutOfRangeException(nameof(ComputeSeed), "xorshift64 never leaves 0");
        if (TimerTicks is < 1 or > 1_000_000) throw new ArgumentOutOfRangeException(nameof(TimerTicks));
        if (TimerInitialCount == 0) throw new ArgumentOutOfRangeException(nameof(TimerInitialCount), "0 stops the timer");
        if (VirtioWaitCycles == 0) throw new ArgumentOutOfRangeException(nameof(VirtioWaitCycles), "must be at least 1");
        if (SerialEchoWaitCycles == 0) throw new ArgumentOutOfRangeException(nameof(SerialEchoWaitCycles), "must be at least 1");
        if (MemoryWriterBufferMiB is 0 or > 2048) throw new ArgumentOutOfRangeException(nameof(MemoryWriterBufferMiB));
    }
}
