using System.Diagnostics;

namespace Sharpvisor.Engines.Emulator.Clock;

/// <summary>
/// The guest's time-stamp counter: host monotonic time since the VM started, counted at <see cref="FrequencyHz"/>
/// (1 GHz, so one tick is one nanosecond and the paravirtual clock needs no scaling). All vCPUs of a VM share one
/// clock, so their TSCs agree, as the kernel's TSC synchronisation check expects. It can be paused (the guest's time
/// does not pass while the VM is paused, QEMU's default) and set (a restored snapshot continues from its value).
/// </summary>
public sealed class GuestClock
{
    public const ulong FrequencyHz = 1_000_000_000;

    /// <summary>
    /// Where guest time zero lies in host ticks and, when paused, the host tick the clock stopped at (else -1): one
    /// immutable object, so <see cref="Now"/> reads both with one load while another thread pauses or resumes.
    /// </summary>
    private sealed record Timeline(long Origin, long PausedAt);

    private Timeline _timeline = new(Stopwatch.GetTimestamp(), -1);
    private readonly Lock _lock = new();
    private readonly double _ticksPerHostTick = (double)FrequencyHz / Stopwatch.Frequency;
    private readonly double _hostTicksPerTick = Stopwatch.Frequency / (double)FrequencyHz;
    private readonly bool _hostCountsNanoseconds = Stopwatch.Frequency == (long)FrequencyHz;

    /// <summary>The host's wall-clock time when the guest TSC read zero; the paravirtual wall clock is built on it.</summary>
    public DateTimeOffset WallClockAtZero { get; } = DateTimeOffset.UtcNow;

    public bool IsPaused => Volatile.Read(ref _timeline).PausedAt >= 0;

    /// <summary>The TSC value now (frozen while paused).</summary>
    public ulong Now()
    {
        var t = Volatile.Read(ref _timeline);
        long at = t.PausedAt >= 0 ? t.PausedAt : Stopwatch.GetTimestamp();
        return ToGuestTicks(at - t.Origin);
    }

    /// <summary>Stops the clock; nothing happens if it is stopped already.</summary>
    public void Pause()
    {
        lock (_lock)
        {
            var t = _timeline;
            if (t.PausedAt < 0) Volatile.Write(ref _timeline, t with { PausedAt = Stopwatch.GetTimestamp() });
        }
    }

    /// <summary>Starts it again from the value it stopped at.</summary>
    public void Resume()
    {
        lock (_lock)
        {
            var t = _timeline;
            if (t.PausedAt < 0) return;
            long now = Stopwatch.GetTimestamp();
            Volatile.Write(ref _timeline, new Timeline(t.Origin + (now - t.PausedAt), -1));
        }
    }

    /// <summary>Makes <see cref="Now"/> read <paramref name="value"/> (from here on, or when resumed if paused).</summary>
    public void Set(ulong value)
    {
        lock (_lock)
        {
            long now = Stopwatch.GetTimestamp();
            long origin = now - ToHostTicks(value);
            Volatile.Write(ref _timeline, new Timeline(origin, _timeline.PausedAt >= 0 ? now : -1));
        }
    }

    private ulong ToGuestTicks(long hostTicks) => _hostCountsNanoseconds ? (ulong)hostTicks : (ulong)(hostTicks * _ticksPerHostTick);

    private long ToHostTicks(ulong guestTicks) => _hostCountsNanoseconds ? (long)guestTicks : (long)(guestTicks * _hostTicksPerTick);
}
