using System.Diagnostics;

namespace Sharpvisor.Engines.Emulator.Clock;

/// <summary>
/// The guest's time-stamp counter: host monotonic time since the VM started, counted at <see cref="FrequencyHz"/>
/// (1 GHz, so one tick is one nanosecond and the paravirtual clock needs no scaling). All vCPUs of a VM share one
/// clock, so their TSCs agree, as the kernel's TSC synchronisation check expects.
/// </summary>
public sealed class GuestClock
{
    public const ulong FrequencyHz = 1_000_000_000;

    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private readonly double _ticksPerHostTick = (double)FrequencyHz / Stopwatch.Frequency;
    private readonly bool _hostCountsNanoseconds = Stopwatch.Frequency == (long)FrequencyHz;

    /// <summary>The host's wall-clock time when the guest TSC read zero; the paravirtual wall clock is built on it.</summary>
    public DateTimeOffset WallClockAtZero { get; } = DateTimeOffset.UtcNow;

    /// <summary>The TSC value now.</summary>
    public ulong Now()
    {
        long elapsed = Stopwatch.GetTimestamp() - _startTimestamp;
        return _hostCountsNanoseconds ? (ulong)elapsed : (ulong)(elapsed * _ticksPerHostTick);
    }
}
