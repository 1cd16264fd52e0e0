using Sharpvisor.Machine.Devices.Interrupts;
using static Sharpvisor.Engines.Emulator.Tests.Apic.ApicTestMachine;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Tests.Apic;

public sealed class ApicConcurrencyTests
{
    /// <summary>8 senders, 20 distinct vectors each, while the owning vCPU thread acknowledges and EOIs.</summary>
    [Fact]
    public void ConcurrentSendersLoseNothing()
    {
        using var m = new ApicTestMachine(3).Enabled();
        var target = m[2];
        const int Senders = 8, PerSender = 20;
        using var start = new Barrier(Senders + 1);
        var taken = new List<byte>();
        var senders = Enumerable.Range(0, Senders).Select(s => new Thread(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < PerSender; i++)
            {
                byte vector = (byte)(0x20 + s * PerSender + i);
                switch (i % 3)
                {
                    case 0: m.Bus.SignalMsi(0xFEE0_2000, vector); break;
                    case 1: m.Bus.Deliver(new InterruptMessage(2, false, InterruptDeliveryMode.Fixed, vector, false)); break;
                    default: SendIpi(m[s % 2], 2, vector); break;
                }
            }
        })).ToList();
        senders.ForEach(t => t.Start());
        start.SignalAndWait();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (taken.Count < Senders * PerSender && DateTime.UtcNow < deadline)
        {
            if (target.TryAcknowledge(out byte v))
            {
                taken.Add(v);
                Write(target, R.EndOfInterrupt, 0);
            }
            else
            {
                target.WaitWhileHalted(true, TimeSpan.FromMilliseconds(5));
            }
        }
        senders.ForEach(t => t.Join());
        Assert.Equal(Enumerable.Range(0x20, Senders * PerSender).Select(v => (byte)v), taken.Order());
        Assert.False(target.HasDeliverable);
    }

    [Fact]
    public void AnIpiWakesAHaltedVcpu()
    {
        using var m = new ApicTestMachine(2).Enabled();
        var sender = new Thread(() =>
        {
            Thread.Sleep(50);
            SendIpi(m[0], 1, 0x77);
        });
        var watch = System.Diagnostics.Stopwatch.StartNew();
        sender.Start();
        bool woke = m[1].WaitWhileHalted(true, TimeSpan.FromSeconds(10));
        sender.Join();
        Assert.True(woke);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0.03, 5);
        Assert.True(m[1].TryAcknowledge(out byte v));
        Assert.Equal(0x77, v);
    }

    [Fact]
    public void KickEndsTheWaitWithoutWork()
    {
        using var m = new ApicTestMachine(1).Enabled();
        var kicker = new Thread(() =>
        {
            Thread.Sleep(50);
            m[0].Kick();
        });
        var watch = System.Diagnostics.Stopwatch.StartNew();
        kicker.Start();
        Assert.False(m[0].WaitWhileHalted(true, TimeSpan.FromSeconds(10)));
        kicker.Join();
        Assert.InRange(watch.Elapsed.TotalSeconds, 0.03, 5);
    }
}
