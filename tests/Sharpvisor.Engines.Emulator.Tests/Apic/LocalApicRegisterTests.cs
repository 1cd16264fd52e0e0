using Sharpvisor.Engines.Emulator.Apic;
using static Sharpvisor.Engines.Emulator.Tests.Apic.ApicTestMachine;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Tests.Apic;

public sealed class LocalApicRegisterTests : IDisposable
{
    private readonly ApicTestMachine _m = new(2);

    public void Dispose() => _m.Dispose();

    [Fact]
    public void PowerOnValues()
    {
        var bsp = _m[0];
        var ap = _m[1];
        Assert.Equal(0xFEE0_0900UL, bsp.ApicBase);
        Assert.Equal(0xFEE0_0800UL, ap.ApicBase);
        Assert.Equal(0xFEE0_0000UL, ap.MmioBase);
        Assert.True(bsp.IsMmioEnabled);
        Assert.Equal(0u, Read(bsp, R.Id));
        Assert.Equal(1u << 24, Read(ap, R.Id));
        Assert.Equal(0x0005_0014u, Read(bsp, R.Version));
        Assert.Equal(0xFFu, Read(bsp, R.SpuriousVector));
        Assert.False(bsp.IsSoftwareEnabled);
        Assert.Equal(0xFFFF_FFFFu, Read(bsp, R.DestinationFormat));
        Assert.Equal(0u, Read(bsp, R.LogicalDestination));
        Assert.Equal(0u, Read(bsp, R.TaskPriority));
        for (int lvt = R.LvtTimer; lvt <= R.LvtError; lvt += 0x10) Assert.Equal(LocalApic.LvtMasked, Read(bsp, lvt));
        Assert.Equal(0u, Read(bsp, R.TimerInitialCount));
        Assert.Equal(0u, Read(bsp, R.TimerCurrentCount));
    }

    [Fact]
    public void VersionAndPrioritiesAreReadOnly()
    {
        var apic = _m.Enabled()[0];
        Write(apic, R.Version, 0);
        Write(apic, R.ProcessorPriority, 0xF0);
        Write(apic, R.ArbitrationPriority, 0xF0);
        Write(apic, R.InterruptRequest + 0x10, 0xFFFF_FFFF);
        Write(apic, R.InService + 0x10, 0xFFFF_FFFF);
        Write(apic, R.TimerCurrentCount, 1234);
        Assert.Equal(LocalApic.VersionValue, Read(apic, R.Version));
        Assert.Equal(0u, Read(apic, R.ProcessorPriority));
        Assert.Equal(0u, Read(apic, R.ArbitrationPriority));
        Assert.Equal(0u, Read(apic, R.InterruptRequest + 0x10));
        Assert.Equal(0u, Read(apic, R.InService + 0x10));
        Assert.Equal(0u, Read(apic, R.TimerCurrentCount));
        Assert.False(apic.HasDeliverable);
    }

    [Fact]
    public void WritableRegistersKeepOnlyTheirDefinedBits()
    {
        var apic = _m[1];
        Write(apic, R.Id, 0xFFFF_FFFF);
        Assert.Equal(0xFF00_0000u, Read(apic, R.Id));
        Write(apic, R.LogicalDestination, 0xFFFF_FFFF);
        Assert.Equal(0xFF00_0000u, Read(apic, R.LogicalDestination));
        Write(apic, R.DestinationFormat, 0);
        Assert.Equal(0x0FFF_FFFFu, Read(apic, R.DestinationFormat));
        Write(apic, R.SpuriousVector, 0xFFFF_FFFF);
        Assert.Equal(0x3FFu, Read(apic, R.SpuriousVector));
        Write(apic, R.TaskPriority, 0xFFFF_FFFF);
        Assert.Equal(0xFFu, Read(apic, R.TaskPriority));
        Write(apic, R.TimerDivideConfiguration, 0xFFFF_FFFF);
        Assert.Equal(0xBu, Read(apic, R.TimerDivideConfiguration));
        Write(apic, R.InterruptCommandHigh, 0xFFFF_FFFF);
        Assert.Equal(0xFF00_0000u, Read(apic, R.InterruptCommandHigh));
        Write(apic, R.LvtLint0, 0xFFFF_FFFF);
        Assert.Equal(0x1_A7FFu, Read(apic, R.LvtLint0));       // no delivery status, no remote IRR
        Write(apic, R.LvtThermal, 0xFFFF_FFFF);
        Assert.Equal(0x1_07FFu, Read(apic, R.LvtThermal));
        Write(apic, R.LvtError, 0xFFFF_FFFF);
        Assert.Equal(0x1_00FFu, Read(apic, R.LvtError));
        Write(apic, R.LvtTimer, 0xFFFF_FFFF);                   // timer mode 11 is reserved: stays one-shot
        Assert.Equal(0x0001_00FFu, Read(apic, R.LvtTimer));
        Write(apic, R.LvtTimer, 0x0003_00FF);                   // periodic, masked
        Assert.Equal(0x0003_00FFu, Read(apic, R.LvtTimer));
        Write(apic, R.LvtTimer, 0x0005_00FF);                   // TSC deadline, masked
        Assert.Equal(0x0005_00FFu, Read(apic, R.LvtTimer));
    }

    [Fact]
    public void SoftwareDisabledApicKeepsItsLvtsMasked()
    {
        var apic = _m[0];
        Write(apic, R.LvtTimer, 0x40);
        Assert.Equal(LocalApic.LvtMasked | 0x40, Read(apic, R.LvtTimer));
        Write(apic, R.SpuriousVector, LocalApic.SvrSoftwareEnable | 0xFF);
        Write(apic, R.LvtTimer, 0x40);
        Write(apic, R.LvtError, 0x41);
        Assert.Equal(0x40u, Read(apic, R.LvtTimer));
        Write(apic, R.SpuriousVector, 0xFF);                    // disabling masks every LVT
        Assert.Equal(LocalApic.LvtMasked | 0x40, Read(apic, R.LvtTimer));
        Assert.Equal(LocalApic.LvtMasked | 0x41, Read(apic, R.LvtError));
    }

    [Fact]
    public void IcrReadsIdleAndKeepsItsFields()
    {
        var apic = _m.Enabled()[0];
        SendIpi(apic, 1, 0xFFFF_F8FF);                          // fixed, every other bit set
        Assert.Equal(0x000C_C8FFu, Read(apic, R.InterruptCommandLow));
        Assert.Equal(0u, Read(apic, R.InterruptCommandLow) & LocalApic.LvtDeliveryStatus);
    }

    [Fact]
    public void NarrowAndMisalignedWritesAreIgnoredAndNarrowReadsWork()
    {
        var apic = _m.Enabled()[0];
        apic.Write(R.TaskPriority, [0x20]);
        apic.Write(R.TaskPriority, [0x20, 0, 0, 0, 0, 0, 0, 0]);
        apic.Write(R.TaskPriority + 4, [0x20, 0, 0, 0]);
        Assert.Equal(0u, Read(apic, R.TaskPriority));
        Write(apic, R.TaskPriority, 0xA5);
        Span<byte> one = stackalloc byte[1];
        apic.Read(R.TaskPriority, one);
        Assert.Equal(0xA5, one[0]);
        apic.Read(R.Version + 2, one);
        Assert.Equal(0x05, one[0]);
        apic.Read(R.Version + 8, one);
        Assert.Equal(0, one[0]);
        Assert.Equal(0u, Read(apic, 0x800));                     // beyond the registers
        Assert.Equal(0u, Read(apic, R.EndOfInterrupt));
        Assert.Equal(0u, Read(apic, R.RemoteRead));
        Assert.Equal(0u, Read(apic, R.SelfIpi));                // x2APIC only
    }

    [Fact]
    public void ErrorStatusLatchesOnWrite()
    {
        var apic = _m.Enabled()[0];
        Write(apic, R.LvtError, 0xFE);
        SendIpi(apic, 0, 0x05);                                 // fixed vector 5 to itself: illegal on both sides
        Assert.Equal(0u, Read(apic, R.ErrorStatus));            // not latched yet
        Write(apic, R.ErrorStatus, 0);
        Assert.Equal(LocalApic.ErrorSendIllegalVector | LocalApic.ErrorReceiveIllegalVector, Read(apic, R.ErrorStatus));
        Assert.False(IrrHas(apic, 5));
        Assert.True(IrrHas(apic, 0xFE));                        // the LVT error interrupt
        Write(apic, R.ErrorStatus, 0);
        Assert.Equal(0u, Read(apic, R.ErrorStatus));
    }
}
