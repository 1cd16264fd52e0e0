namespace Sharpvisor.Engines.Emulator.Apic;

/// <summary>
/// The time base of the local APICs: the guest TSC they read, its frequency, and the APIC bus (timer input) frequency.
/// The engine advertises both frequencies in CPUID so the guest needs no calibration; the APIC timer counts at
/// <see cref="BusFrequencyHz"/> divided by the divide configuration, and all deadlines are kept in guest TSC ticks.
/// </summary>
public sealed class ApicClock
{
    /// <summary>1 GHz, the APIC bus KVM and QEMU model: one count per nanosecond at divide-by-1.</summary>
    public const ulong DefaultBusFrequencyHz = 1_000_000_000;

    /// <param name="readTimeStampCounter">The guest TSC (the same source RDTSC reads).</param>
    /// <param name="tscFrequencyHz">How many TSC ticks make a second of guest time.</param>
    /// <param name="busFrequencyHz">The APIC timer's input clock before the divider.</param>
    public ApicClock(Func<ulong> readTimeStampCounter, ulong tscFrequencyHz, ulong busFrequencyHz = DefaultBusFrequencyHz)
    {
        ArgumentNullException.ThrowIfNull(readTimeStampCounter);
        ArgumentOutOfRangeException.ThrowIfZero(tscFrequencyHz);
        ArgumentOutOfRangeException.ThrowIfZero(busFrequencyHz);
        ReadTimeStampCounter = readTimeStampCounter;
        TscFrequencyHz = tscFrequencyHz;
        BusFrequencyHz = busFrequencyHz;
    }

    public Func<ulong> ReadTimeStampCounter { get; }
    public ulong TscFrequencyHz { get; }
    public ulong BusFrequencyHz { get; }

    /// <summary>TSC ticks that <paramref name="counts"/> timer counts at <paramref name="divisor"/> last, rounded up so a timer never fires early.</summary>
    public ulong CountsToTsc(ulong counts, uint divisor)
    {
        UInt128 numerator = (UInt128)counts * divisor * TscFrequencyHz;
        UInt128 ticks = (numerator + BusFrequencyHz - 1) / BusFrequencyHz;
        return ticks > ulong.MaxValue ? ulong.MaxValue : (ulong)ticks;
    }

    /// <summary>Timer counts (at <paramref name="divisor"/>) that <paramref name="tscTicks"/> still hold, rounded up.</summary>
    public ulong TscToCounts(ulong tscTicks, uint divisor)
    {
        UInt128 denominator = (UInt128)TscFrequencyHz * divisor;
        UInt128 counts = ((UInt128)tscTicks * BusFrequencyHz + denominator - 1) / denominator;
        return counts > ulong.MaxValue ? ulong.MaxValue : (ulong)counts;
    }

    /// <summary>The host time <paramref name="tscTicks"/> of guest TSC take, rounded up to whole milliseconds for a wait.</summary>
    public TimeSpan TscToWaitTime(ulong tscTicks)
    {
        UInt128 milliseconds = ((UInt128)tscTicks * 1000 + TscFrequencyHz - 1) / TscFrequencyHz;
        long whole = milliseconds > int.MaxValue - 1 ? int.MaxValue - 1 : (long)milliseconds;
        return TimeSpan.FromTicks(whole * TimeSpan.TicksPerMillisecond);
    }
}
