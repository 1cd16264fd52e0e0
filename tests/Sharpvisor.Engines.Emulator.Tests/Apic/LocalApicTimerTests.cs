using System.Diagnostics;
using Sharpvisor.Engines.Emulator.Apic;
using static Sharpvisor.Engines.Emulator.Tests.Apic.ApicTestMachine;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Tests.Apic;

/// <summary>The fake TSC runs at 2 GHz against the 1 GHz bus: one count at divide-by-1 lasts 2 TSC ticks.</summary>
public sealed class LocalApicTimerTests : IDisposable
{
    private const uint DivideBy1 = 0xB, DivideBy2 = 0x0, DivideBy16 = 0x3;
    private const uint OneShot = 0, Periodic = 1u << 17, TscDeadline = 2u << 17;
    private readonly ApicTestMachine _m = new ApicTestMachine(1).Enabled();
    private LocalApic Apic => _m[0];

    public LocalApicTimerTests() => _m.Tsc = 1_000_000;

    public void Dispose() => _m.Dispose();

    private void Start(uint mode, uint divide, uint count, byte vector = 0x40)
    {
        Write(Apic, R.TimerDivideConfiguration, divide);
        Write(Apic, R.LvtTimer, mode | vector);
        Write(Apic, R.TimerInitialCount, count);
    }

    [Fact]
    public void OneShotCountsDownAndFiresOnce()
    {
        Start(OneShot, DivideBy1, 1000);
        Assert.Equal(1_002_000UL, Apic.NextTimerDeadline);
        Assert.Equal(1000u, Read(Apic, R.TimerCurrentCount));
        _m.Tsc += 500;
        Assert.Equal(750u, Read(Apic, R.TimerCurrentCount));
        Assert.False(Apic.FireDueTimers(1_001_999));
        Assert.False(IrrHas(Apic, 0x40));
        _m.Cpus[0].InterruptCheckRequested = false;
        Assert.True(Apic.FireDueTimers(1_002_000));
        Assert.True(_m.Cpus[0].InterruptCheckRequested);
        Assert.True(IrrHas(Apic, 0x40));
        _m.Tsc = 1_002_000;
        Assert.Equal(0u, Read(Apic, R.TimerCurrentCount));
        Assert.Equal(ulong.MaxValue, Apic.NextTimerDeadline);
        Assert.False(Apic.FireDueTimers(5_000_000));
        Assert.Equal(1000u, Read(Apic, R.TimerInitialCount));
    }

    [Fact]
    public void DivideConfigurationScalesTheCount()
    {
        Start(OneShot, DivideBy16, 100);
        Assert.Equal(1_000_000UL + 100 * 16 * 2, Apic.NextTimerDeadline);
        Start(OneShot, DivideBy2, 100);
        Assert.Equal(1_000_000UL + 100 * 2 * 2, Apic.NextTimerDeadline);
    }

    [Fact]
    public void ChangingTheDividerKeepsTheCountLeft()
    {
        Start(OneShot, DivideBy1, 1000);
        _m.Tsc += 1000;                                         // 500 counts left
        Write(Apic, R.TimerDivideConfiguration, DivideBy2);
        Assert.Equal(_m.Tsc + 500 * 4, Apic.NextTimerDeadline);
        Assert.Equal(500u, Read(Apic, R.TimerCurrentCount));
    }

    [Fact]
    public void PeriodicReloadsAndCoalescesMissedPeriods()
    {
        Start(Periodic, DivideBy1, 1000);                       // a 2000-tick period
        _m.Tsc += 2500;                                          // not polled at the deadline
        Assert.Equal(750u, Read(Apic, R.TimerCurrentCount));     // reads as if it had reloaded
        Assert.True(Apic.FireDueTimers(_m.Tsc));
        Assert.Equal(1_004_000UL, Apic.NextTimerDeadline);
        Assert.Equal(new byte[] { 0x40 }, DrainWithEoi(Apic));
        Assert.True(Apic.FireDueTimers(1_010_500));              // three periods missed: one interrupt
        Assert.Equal(1_012_000UL, Apic.NextTimerDeadline);
        Assert.Equal(new byte[] { 0x40 }, DrainWithEoi(Apic));
        Write(Apic, R.TimerInitialCount, 0);                     // a zero count stops it
        Assert.Equal(ulong.MaxValue, Apic.NextTimerDeadline);
    }

    [Fact]
    public void MaskedTimerKeepsCountingWithoutInterrupts()
    {
        Start(Periodic | LocalApic.LvtMasked, DivideBy1, 100);
        Assert.False(Apic.FireDueTimers(1_000_200));
        Assert.False(IrrHas(Apic, 0x40));
        Assert.Equal(1_000_400UL, Apic.NextTimerDeadline);
    }

    [Fact]
    public void TscDeadlineMode()
    {
        const uint Msr = R.TscDeadlineMsr;
        Assert.True(Apic.TryWrite(Msr, 5_000_000));              // one-shot mode: ignored
        Assert.True(Apic.TryRead(Msr, out ulong value));
        Assert.Equal(0UL, value);
        Write(Apic, R.LvtTimer, TscDeadline | 0x41);
        Write(Apic, R.TimerInitialCount, 1000);                  // ignored in TSC-deadline mode
        Assert.Equal(0u, Read(Apic, R.TimerInitialCount));
        Assert.Equal(ulong.MaxValue, Apic.NextTimerDeadline);
        Assert.True(Apic.TryWrite(Msr, 5_000_000));
        Assert.True(Apic.TryRead(Msr, out value));
        Assert.Equal(5_000_000UL, value);
        Assert.Equal(5_000_000UL, Apic.NextTimerDeadline);
        Assert.Equal(0u, Read(Apic, R.TimerCurrentCount));
        Assert.False(Apic.FireDueTimers(4_999_999));
        Assert.True(Apic.FireDueTimers(5_000_000));
        Assert.True(IrrHas(Apic, 0x41));
        Assert.True(Apic.TryRead(Msr, out value));
        Assert.Equal(0UL, value);                                 // disarmed after firing
        Assert.Equal(ulong.MaxValue, Apic.NextTimerDeadline);
        DrainWithEoi(Apic);

        Assert.True(Apic.TryWrite(Msr, 10));                      // already past: fires at once
        Assert.True(IrrHas(Apic, 0x41));
        DrainWithEoi(Apic);
        Assert.True(Apic.TryWrite(Msr, 9_000_000));
        Assert.True(Apic.TryWrite(Msr, 0));                       // 0 disarms
        Assert.False(Apic.FireDueTimers(10_000_000));
    }

    [Fact]
    public void SwitchingModesToOrFromTscDeadlineDisarms()
    {
        Write(Apic, R.LvtTimer, TscDeadline | 0x41);
        Assert.True(Apic.TryWrite(R.TscDeadlineMsr, 5_000_000));
        Write(Apic, R.LvtTimer, OneShot | 0x41);
        Assert.Equal(ulong.MaxValue, Apic.NextTimerDeadline);
        Start(OneShot, DivideBy1, 1000);
        Write(Apic, R.LvtTimer, Periodic | 0x41);                 // one-shot <-> periodic keeps running
        Assert.Equal(1_002_000UL, Apic.NextTimerDeadline);
        Write(Apic, R.LvtTimer, TscDeadline | 0x41);
        Assert.Equal(ulong.MaxValue, Apic.NextTimerDeadline);
        Assert.Equal(0u, Read(Apic, R.TimerInitialCount));
    }

    [Fact]
    public void NoTscDeadlineWhenNotSupported()
    {
        using var m = new ApicTestMachine(1, new ApicBus { TscDeadlineSupported = false }).Enabled();
        Assert.False(m[0].TryRead(R.TscDeadlineMsr, out _));
        Assert.False(m[0].TryWrite(R.TscDeadlineMsr, 1));
        Write(m[0], R.LvtTimer, TscDeadline | 0x41);
        Assert.Equal(0x41u, Read(m[0], R.LvtTimer));
    }

    [Fact]
    public void HaltedWaitEndsWhenTheTimerIsDue()
    {
        // A real clock: the TSC is the host's Stopwatch, so the wait really sleeps until the deadline.
        using var m = new ApicTestMachine(1, tsc: () => (ulong)Stopwatch.GetTimestamp(), tscHz: (ulong)Stopwatch.Frequency).Enabled();
        var apic = m[0];
        Write(apic, R.TimerDivideConfiguration, DivideBy1);
        Write(apic, R.LvtTimer, 0x40);
        // The watch starts before the count is written, so a loaded host cannot make the wait look shorter than it was.
        var watch = Stopwatch.StartNew();
        Write(apic, R.TimerInitialCount, 30_000_000);             // 30 ms on the 1 GHz bus
        bool woke = false;
        while (!woke && watch.Elapsed < TimeSpan.FromSeconds(10)) woke = apic.WaitWhileHalted(true, TimeSpan.FromSeconds(10));
        Assert.True(woke);
        Assert.InRange(watch.Elapsed.TotalMilliseconds, 30, 5000);
        Assert.True(apic.TryAcknowledge(out byte v));
        Assert.Equal(0x40, v);
    }

    [Fact]
    public void HaltedWaitTimesOutAndIgnoresInterruptsWhileIfIsClear()
    {
        var apic = Apic;
        Assert.False(apic.WaitWhileHalted(true, TimeSpan.FromMilliseconds(20)));
        ApicTestMachine.SendIpi(apic, 0, 0x4_0050);               // a self IPI (shorthand self, vector 0x50)
        Assert.False(apic.WaitWhileHalted(false, TimeSpan.FromMilliseconds(20)));
        Assert.True(apic.WaitWhileHalted(true, TimeSpan.FromMilliseconds(20)));
    }
}
