using Sharpvisor.Engines.Emulator.Apic;
using Sharpvisor.Machine.Devices.Interrupts;
using static Sharpvisor.Engines.Emulator.Tests.Apic.ApicTestMachine;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Tests.Apic;

public sealed class LocalApicPriorityTests : IDisposable
{
    private readonly ApicTestMachine _m = new ApicTestMachine(1).Enabled();
    private LocalApic Apic => _m[0];

    public void Dispose() => _m.Dispose();

    private void Raise(byte vector, bool level = false) =>
        Assert.True(_m.Bus.Deliver(new InterruptMessage(0, false, InterruptDeliveryMode.Fixed, vector, level)));

    [Fact]
    public void AcceptanceSetsIrrAndAsksTheCoreToLook()
    {
        _m.Cpus[0].InterruptCheckRequested = false;
        Raise(0x41);
        Assert.True(_m.Cpus[0].InterruptCheckRequested);
        Assert.True(IrrHas(Apic, 0x41));
        Assert.False(TmrHas(Apic, 0x41));
        Assert.True(Apic.HasDeliverable);
    }

    [Fact]
    public void AcknowledgesHighestFirstAndMovesIrrToIsr()
    {
        Raise(0x41);
        Raise(0x92);
        Raise(0x35);
        Assert.True(Apic.TryAcknowledge(out byte v));
        Assert.Equal(0x92, v);
        Assert.True(IsrHas(Apic, 0x92));
        Assert.False(IrrHas(Apic, 0x92));
        Assert.Equal(0x90u, Read(Apic, R.ProcessorPriority));
        // 0x41 and 0x35 are in lower classes than the one in service.
        Assert.False(Apic.HasDeliverable);
        Assert.False(Apic.TryAcknowledge(out _));
        Write(Apic, R.EndOfInterrupt, 0);
        Assert.False(IsrHas(Apic, 0x92));
        Assert.Equal(new byte[] { 0x41, 0x35 }, DrainWithEoi(Apic));
    }

    [Fact]
    public void HigherClassNestsSameClassWaits()
    {
        Raise(0x51);
        Assert.True(Apic.TryAcknowledge(out _));
        Raise(0x5F);                                          // same class as the one in service: waits
        Assert.False(Apic.HasDeliverable);
        Raise(0x61);                                          // higher class: nests
        Assert.True(Apic.TryAcknowledge(out byte v));
        Assert.Equal(0x61, v);
        Write(Apic, R.EndOfInterrupt, 0);                     // ends 0x61 (the highest in service)
        Assert.True(IsrHas(Apic, 0x51));
        Assert.False(IsrHas(Apic, 0x61));
        Assert.False(Apic.HasDeliverable);
        Write(Apic, R.EndOfInterrupt, 0);
        Assert.True(Apic.TryAcknowledge(out v));
        Assert.Equal(0x5F, v);
    }

    [Fact]
    public void TaskPriorityBlocksItsClassAndBelow()
    {
        Write(Apic, R.TaskPriority, 0x50);
        Raise(0x5A);
        Raise(0x43);
        Assert.False(Apic.HasDeliverable);
        Assert.Equal(0x50u, Read(Apic, R.ProcessorPriority));
        Assert.Equal(0x50u, Read(Apic, R.ArbitrationPriority));
        _m.Cpus[0].InterruptCheckRequested = false;
        Apic.TaskPriority = 0x4F;                             // what MOV CR8, 4 does
        Assert.True(_m.Cpus[0].InterruptCheckRequested);
        Assert.Equal(0x4Fu, Read(Apic, R.TaskPriority));
        Assert.True(Apic.TryAcknowledge(out byte v));
        Assert.Equal(0x5A, v);
        Assert.False(Apic.HasDeliverable);                    // 0x43 is at or below TPR 0x4F
        Write(Apic, R.EndOfInterrupt, 0);
        Assert.False(Apic.HasDeliverable);
        Apic.TaskPriority = 0;
        Assert.Equal(new byte[] { 0x43 }, DrainWithEoi(Apic));
    }

    [Fact]
    public void EoiWithNothingInServiceDoesNothing()
    {
        Raise(0x41);
        Write(Apic, R.EndOfInterrupt, 0);
        Assert.True(IrrHas(Apic, 0x41));
        Assert.Equal(new byte[] { 0x41 }, DrainWithEoi(Apic));
    }

    [Fact]
    public void LevelTriggeredAcceptanceSetsTmr()
    {
        Raise(0x70, level: true);
        Assert.True(TmrHas(Apic, 0x70));
        Raise(0x70, level: false);
        Assert.False(TmrHas(Apic, 0x70));
    }

    [Fact]
    public void SoftwareDisabledApicDropsFixedButTakesNmiAndInit()
    {
        Raise(0x41);
        Write(Apic, R.SpuriousVector, 0xFF);                   // software-disable
        Assert.False(_m.Bus.Deliver(new InterruptMessage(0, false, InterruptDeliveryMode.Fixed, 0x42, false)));
        Assert.False(IrrHas(Apic, 0x42));
        Assert.True(IrrHas(Apic, 0x41));                       // accepted before: still pending
        Assert.True(_m.Bus.Deliver(new InterruptMessage(0, false, InterruptDeliveryMode.Nmi, 0, false)));
        Assert.True(_m.Bus.Deliver(new InterruptMessage(0, false, InterruptDeliveryMode.Init, 0, false)));
        Assert.True(Apic.TryTakeNmi());
        Assert.True(Apic.InitPending);
    }

    [Fact]
    public void HardwareDisabledApicTakesNothing()
    {
        Raise(0x41);
        Assert.True(Apic.TryWrite(LocalApicRegister.ApicBaseMsr, LocalApic.DefaultBase | LocalApic.ApicBaseBootstrap));
        Assert.False(Apic.HasDeliverable);
        Assert.False(_m.Bus.Deliver(new InterruptMessage(0, false, InterruptDeliveryMode.Nmi, 0, false)));
        Assert.False(Apic.NmiPending);
    }

    [Fact]
    public void IllegalVectorsAreRefused()
    {
        Assert.False(_m.Bus.Deliver(new InterruptMessage(0, false, InterruptDeliveryMode.Fixed, 15, false)));
        Assert.False(Apic.HasDeliverable);
        Write(Apic, R.ErrorStatus, 0);
        Assert.Equal(LocalApic.ErrorReceiveIllegalVector, Read(Apic, R.ErrorStatus));
    }
}
