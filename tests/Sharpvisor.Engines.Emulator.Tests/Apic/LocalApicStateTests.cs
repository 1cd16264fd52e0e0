using System.Buffers.Binary;
using Sharpvisor.Engines.Emulator.Apic;
using Sharpvisor.Machine.Devices.Interrupts;
using static Sharpvisor.Engines.Emulator.Tests.Apic.ApicTestMachine;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Tests.Apic;

public sealed class LocalApicStateTests : IDisposable
{
    private readonly ApicTestMachine _m = new ApicTestMachine(2).Enabled();

    public void Dispose() => _m.Dispose();

    private static uint At(byte[] page, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(offset));

    private void Populate(LocalApic apic)
    {
        Write(apic, R.TaskPriority, 0x20);
        Write(apic, R.LogicalDestination, 0x02u << 24);
        Write(apic, R.DestinationFormat, 0x0FFF_FFFF);
        Write(apic, R.LvtLint0, 0x700);
        Write(apic, R.LvtError, 0xFE);
        Write(apic, R.TimerDivideConfiguration, 0xB);
        Write(apic, R.LvtTimer, (1u << 17) | 0xEC);
        Write(apic, R.TimerInitialCount, 1000);
        Write(apic, R.InterruptCommandHigh, 0x01u << 24);
        _m.Bus.Deliver(new InterruptMessage(1, false, InterruptDeliveryMode.Fixed, 0x81, true));
        _m.Bus.Deliver(new InterruptMessage(1, false, InterruptDeliveryMode.Fixed, 0x31, false));
        Assert.True(apic.TryAcknowledge(out _));          // 0x81 in service
    }

    [Fact]
    public void PageUsesKvmLapicStateOffsets()
    {
        var apic = _m[1];
        Populate(apic);
        _m.Tsc += 400;                                     // 200 counts gone
        byte[] page = apic.SaveState();
        Assert.Equal(1024, page.Length);
        Assert.Equal(1u << 24, At(page, 0x20));
        Assert.Equal(0x0005_0014u, At(page, 0x30));
        Assert.Equal(0x20u, At(page, 0x80));
        Assert.Equal(0x80u, At(page, 0xA0));               // PPR from the vector in service
        Assert.Equal(0x0200_0000u, At(page, 0xD0));
        Assert.Equal(0x0FFF_FFFFu, At(page, 0xE0));
        Assert.Equal(0x1FFu, At(page, 0xF0));
        Assert.Equal(1u << 1, At(page, 0x100 + 4 * 0x10)); // ISR bit 0x81
        Assert.Equal(1u << 1, At(page, 0x180 + 4 * 0x10)); // TMR bit 0x81
        Assert.Equal(1u << 17, At(page, 0x200 + 1 * 0x10));// IRR bit 0x31
        Assert.Equal(0x01u << 24, At(page, 0x310));
        Assert.Equal((1u << 17) | 0xEC, At(page, 0x320));
        Assert.Equal(0x700u, At(page, 0x350));
        Assert.Equal(0xFEu, At(page, 0x370));
        Assert.Equal(1000u, At(page, 0x380));
        Assert.Equal(800u, At(page, 0x390));
        Assert.Equal(0xBu, At(page, 0x3E0));
    }

    [Fact]
    public void RoundTripToAnotherMachine()
    {
        Populate(_m[1]);
        _m.Tsc += 400;
        byte[] page = _m[1].SaveState();
        var control = _m[1].SaveControlState();

        using var other = new ApicTestMachine(2) { Tsc = 50_000 };
        other[1].RestoreControlState(control);
        other[1].RestoreState(page);
        Assert.Equal(page, other[1].SaveState());
        Assert.Equal(control, other[1].SaveControlState());
        Assert.Equal(50_000UL + 800 * 2, other[1].NextTimerDeadline);  // 800 counts left, from now
        Assert.False(other[1].HasDeliverable);                         // 0x31 waits below the 0x81 in service
        Write(other[1], R.EndOfInterrupt, 0);
        Assert.True(other[1].TryAcknowledge(out byte v));
        Assert.Equal(0x31, v);
        Assert.True(other[1].FireDueTimers(50_000UL + 1600));
        Assert.Equal(50_000UL + 1600 + 2000, other[1].NextTimerDeadline); // periodic: a full period follows
    }

    [Fact]
    public void X2ApicPageAndControlState()
    {
        var apic = _m[1];
        Assert.True(apic.TryWrite(R.ApicBaseMsr, LocalApic.DefaultBase | LocalApic.ApicBaseGlobalEnable | LocalApic.ApicBaseX2ApicEnable));
        Assert.True(apic.TryWrite(R.X2ApicMsrBase + 0x30, (0x1UL << 32) | 0x4_0000 | 0x41)); // self IPI via ICR shorthand
        Assert.True(apic.TryWrite(R.X2ApicMsrBase + 0x32, 2u << 17 | 0x42));                  // TSC-deadline mode
        Assert.True(apic.TryWrite(R.TscDeadlineMsr, 9_000_000));
        _m[0].TryWrite(R.ApicBaseMsr, 0); // unrelated APIC disabled, to see it does not matter
        SendIpi(_m[0], 1, 4 << 8);       // disabled APICs send nothing
        byte[] page = apic.SaveState();
        Assert.Equal(1u, At(page, 0x20));                     // full x2APIC ID
        Assert.Equal(0x2u, At(page, 0xD0));                   // derived LDR
        Assert.Equal(1u, At(page, 0x310));                    // ICR destination, 32 bits
        var control = apic.SaveControlState();
        Assert.Equal(9_000_000UL, control.TscDeadline);
        Assert.True((control.ApicBase & LocalApic.ApicBaseX2ApicEnable) != 0);

        using var other = new ApicTestMachine(2);
        other[1].RestoreControlState(control);
        other[1].RestoreState(page);
        Assert.True(other[1].IsX2ApicMode);
        Assert.Equal(page, other[1].SaveState());
        Assert.Equal(9_000_000UL, other[1].NextTimerDeadline);
        Assert.True(other[1].TryRead(R.X2ApicMsrBase + 0x22, out ulong irr2));
        Assert.Equal(1UL << 1, irr2);                         // 0x41 (IRR word 2, bit 1) still pending
    }

    [Fact]
    public void PendingEventsSurvive()
    {
        SendIpi(_m[0], 1, 5u << 8 | 1u << 14);                // INIT
        SendIpi(_m[0], 1, 6u << 8 | 0x9A);                    // SIPI
        SendIpi(_m[0], 1, 4u << 8);                           // NMI
        var control = _m[1].SaveControlState();
        Assert.True(control.InitPending && control.NmiPending);
        Assert.Equal(0x9A, control.StartupVector);
        using var other = new ApicTestMachine(2);
        other[1].RestoreControlState(control);
        Assert.True(other[1].TryTakeInit());
        Assert.True(other[1].TryTakeStartup(out byte vector));
        Assert.Equal(0x9A, vector);
    }

    [Fact]
    public void BadStatesAreRefused()
    {
        Assert.Throws<ArgumentException>(() => _m[0].RestoreState(new byte[100]));
        Assert.Throws<ArgumentException>(() => _m[0].RestoreControlState(new LocalApicControlState { Version = 7 }));
        Assert.Throws<ArgumentException>(() => _m[0].RestoreControlState(new LocalApicControlState { ApicBase = LocalApic.ApicBaseX2ApicEnable }));
    }

    [Fact]
    public void ResetReturnsToPowerOn()
    {
        Populate(_m[1]);
        Assert.True(_m[1].TryWrite(R.ApicBaseMsr, 0xFED0_0000 | LocalApic.ApicBaseGlobalEnable));
        _m[1].Reset();
        Assert.Equal(0xFEE0_0800UL, _m[1].ApicBase);
        Assert.Equal(0xFFu, Read(_m[1], R.SpuriousVector));
        Assert.False(_m[1].HasDeliverable);
        Assert.Equal(ulong.MaxValue, _m[1].NextTimerDeadline);
    }
}
