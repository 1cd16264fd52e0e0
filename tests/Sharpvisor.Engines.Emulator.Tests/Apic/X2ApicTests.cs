using Sharpvisor.Engines.Emulator.Apic;
using static Sharpvisor.Engines.Emulator.Tests.Apic.ApicTestMachine;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Tests.Apic;

public sealed class X2ApicTests : IDisposable
{
    private const ulong XApic = LocalApic.DefaultBase | LocalApic.ApicBaseGlobalEnable;
    private const ulong X2Apic = XApic | LocalApic.ApicBaseX2ApicEnable;
    private readonly ApicTestMachine _m = new(2);

    public void Dispose() => _m.Dispose();

    private static uint Msr(int register) => R.X2ApicMsrBase + (uint)(register >> 4);

    private void EnterX2Apic()
    {
        foreach (var apic in _m.Apics)
        {
            Assert.True(apic.TryWrite(R.ApicBaseMsr, X2Apic | (apic.IsBootstrapProcessor ? LocalApic.ApicBaseBootstrap : 0)));
            Assert.True(apic.TryWrite(Msr(R.SpuriousVector), LocalApic.SvrSoftwareEnable | 0xFF));
        }
    }

    [Fact]
    public void MsrsAreAbsentInXApicMode()
    {
        Assert.False(_m[0].TryRead(Msr(R.Id), out _));
        Assert.False(_m[0].TryWrite(Msr(R.TaskPriority), 0));
        Assert.False(_m[0].TryRead(0x10, out _));                // not an APIC MSR at all
    }

    [Fact]
    public void EnteringX2ApicModeSwitchesIdAndLdrAndDropsTheMmioPage()
    {
        int mappingChanges = 0;
        _m[1].MmioMappingChanged += _ => mappingChanges++;
        Write(_m[1], R.TaskPriority, 0x30);
        EnterX2Apic();
        Assert.Equal(1, mappingChanges);
        Assert.False(_m[1].IsMmioEnabled);
        Assert.True(_m[1].IsX2ApicMode);
        Assert.True(_m[1].TryRead(Msr(R.Id), out ulong id));
        Assert.Equal(1UL, id);
        Assert.True(_m[1].TryRead(Msr(R.LogicalDestination), out ulong ldr));
        Assert.Equal(0x2UL, ldr);                                 // cluster 0, bit 1
        Assert.True(_m[1].TryRead(Msr(R.Version), out ulong version));
        Assert.Equal((ulong)LocalApic.VersionValue, version);
        Assert.True(_m[1].TryRead(Msr(R.TaskPriority), out ulong tpr));
        Assert.Equal(0x30UL, tpr);                                 // state carries over
        Assert.Equal(0u, Read(_m[1], R.Version));                  // the page no longer answers
        Assert.Equal(0x0001_0002u, LocalApic.X2ApicLogicalId(0x11));
    }

    [Fact]
    public void GeneralProtectionCases()
    {
        EnterX2Apic();
        var apic = _m[0];
        Assert.False(apic.TryWrite(Msr(R.Id), 5));                          // read-only
        Assert.False(apic.TryWrite(Msr(R.Version), 0));
        Assert.False(apic.TryWrite(Msr(R.LogicalDestination), 0));
        Assert.False(apic.TryWrite(Msr(R.ProcessorPriority), 0));
        Assert.False(apic.TryWrite(Msr(R.InterruptRequest), 0));
        Assert.False(apic.TryWrite(Msr(R.TimerCurrentCount), 0));
        Assert.False(apic.TryRead(Msr(R.EndOfInterrupt), out _));           // write-only
        Assert.False(apic.TryRead(Msr(R.SelfIpi), out _));
        Assert.False(apic.TryRead(Msr(R.DestinationFormat), out _));        // 0x80E: no DFR in x2APIC mode
        Assert.False(apic.TryWrite(Msr(R.DestinationFormat), 0));
        Assert.False(apic.TryRead(Msr(R.ArbitrationPriority), out _));      // 0x809: no APR
        Assert.False(apic.TryRead(Msr(R.RemoteRead), out _));
        Assert.False(apic.TryRead(0x831, out _));                           // ICR is one MSR
        Assert.False(apic.TryRead(Msr(R.LvtCmci), out _));                  // no CMCI advertised
        Assert.False(apic.TryRead(0x840, out _));
        Assert.False(apic.TryWrite(Msr(R.EndOfInterrupt), 1));              // non-zero EOI
        Assert.False(apic.TryWrite(Msr(R.ErrorStatus), 1));                 // non-zero ESR
        Assert.False(apic.TryWrite(Msr(R.TaskPriority), 0x100));            // reserved bits
        Assert.False(apic.TryWrite(Msr(R.TaskPriority), 1UL << 32));        // upper half reserved
        Assert.False(apic.TryWrite(Msr(R.SpuriousVector), 0x1000));         // no directed EOI
        Assert.False(apic.TryWrite(Msr(R.TimerDivideConfiguration), 0x4));
        Assert.False(apic.TryWrite(Msr(R.LvtError), 0x700));                // no delivery mode in LVT error
        Assert.False(apic.TryWrite(Msr(R.InterruptCommandLow), 1UL << 13)); // ICR reserved bits
        Assert.False(apic.TryWrite(Msr(R.InterruptCommandLow), 1UL << 20));
        Assert.False(apic.TryWrite(Msr(R.SelfIpi), 0x100));
        Assert.True(apic.TryWrite(Msr(R.EndOfInterrupt), 0));
        Assert.True(apic.TryWrite(Msr(R.ErrorStatus), 0));
        Assert.True(apic.TryWrite(Msr(R.TaskPriority), 0x20));
        Assert.True(apic.TryWrite(Msr(R.LvtTimer), 0x2_0040));
        Assert.True(apic.TryRead(Msr(R.LvtTimer), out ulong lvt));
        Assert.Equal(0x2_0040UL, lvt);
    }

    [Fact]
    public void IcrIsOne64BitMsrWithA32BitDestination()
    {
        EnterX2Apic();
        Assert.True(_m[0].TryWrite(Msr(R.InterruptCommandLow), (1UL << 32) | 0x41));
        Assert.True(IrrHasX2(_m[1], 0x41));
        Assert.False(IrrHasX2(_m[0], 0x41));
        Assert.True(_m[0].TryRead(Msr(R.InterruptCommandLow), out ulong icr));
        Assert.Equal((1UL << 32) | 0x41, icr);
        Assert.True(_m[0].TryWrite(Msr(R.InterruptCommandLow), (0xFFFF_FFFFUL << 32) | 0x42));   // broadcast
        Assert.True(IrrHasX2(_m[0], 0x42) && IrrHasX2(_m[1], 0x42));
        Assert.True(_m[0].TryWrite(Msr(R.InterruptCommandLow), (0xFFUL << 32) | 0x43));          // 0xFF is an ID here
        Assert.False(IrrHasX2(_m[0], 0x43) || IrrHasX2(_m[1], 0x43));
        // Logical: cluster 0, member bits 0 and 1.
        Assert.True(_m[0].TryWrite(Msr(R.InterruptCommandLow), (0x2UL << 32) | (1 << 11) | 0x44));
        Assert.True(IrrHasX2(_m[1], 0x44) && !IrrHasX2(_m[0], 0x44));
        Assert.True(_m[0].TryWrite(Msr(R.InterruptCommandLow), (0x1_0003UL << 32) | (1 << 11) | 0x45));  // cluster 1: nobody
        Assert.False(IrrHasX2(_m[0], 0x45) || IrrHasX2(_m[1], 0x45));
    }

    [Fact]
    public void SelfIpiMsr()
    {
        EnterX2Apic();
        Assert.True(_m[1].TryWrite(Msr(R.SelfIpi), 0x51));
        Assert.True(IrrHasX2(_m[1], 0x51));
        Assert.False(IrrHasX2(_m[0], 0x51));
    }

    [Fact]
    public void IoApicBroadcastStillReachesX2ApicMode()
    {
        EnterX2Apic();
        Assert.True(_m.Bus.Deliver(new(0xFF, false, Machine.Devices.Interrupts.InterruptDeliveryMode.Fixed, 0x61, false)));
        Assert.True(IrrHasX2(_m[0], 0x61) && IrrHasX2(_m[1], 0x61));
        Assert.True(_m.Bus.Deliver(new(1, false, Machine.Devices.Interrupts.InterruptDeliveryMode.Fixed, 0x62, false)));
        Assert.True(IrrHasX2(_m[1], 0x62) && !IrrHasX2(_m[0], 0x62));
    }

    private static bool IrrHasX2(LocalApic apic, int vector)
    {
        Assert.True(apic.TryRead(Msr(R.InterruptRequest + (vector >> 5) * 0x10), out ulong word));
        return (word & (1UL << (vector & 31))) != 0;
    }

    [Fact]
    public void ApicBaseTransitions()
    {
        var apic = _m[1];
        Assert.False(apic.TryWrite(R.ApicBaseMsr, LocalApic.DefaultBase | LocalApic.ApicBaseX2ApicEnable)); // invalid state
        Assert.False(apic.TryWrite(R.ApicBaseMsr, XApic | 0x1));                       // reserved bit 0
        Assert.False(apic.TryWrite(R.ApicBaseMsr, XApic | 0x200));                     // reserved bit 9
        Assert.True(apic.TryWrite(R.ApicBaseMsr, X2Apic));                             // xAPIC -> x2APIC
        Assert.False(apic.TryWrite(R.ApicBaseMsr, XApic));                             // x2APIC -> xAPIC
        Assert.True(apic.TryWrite(R.ApicBaseMsr, LocalApic.DefaultBase));              // x2APIC -> disabled
        Assert.False(apic.IsHardwareEnabled);
        Assert.False(apic.TryWrite(R.ApicBaseMsr, X2Apic));                            // disabled -> x2APIC
        Assert.True(apic.TryWrite(R.ApicBaseMsr, XApic));                              // disabled -> xAPIC
        Assert.Equal(1u << 24, Read(apic, R.Id));
        Assert.True(apic.TryWrite(R.ApicBaseMsr, X2Apic));
        Assert.True(apic.TryRead(R.ApicBaseMsr, out ulong value));
        Assert.Equal(X2Apic, value);
    }

    [Fact]
    public void DisablingResetsTheApic()
    {
        var apic = _m[0];
        Write(apic, R.SpuriousVector, LocalApic.SvrSoftwareEnable | 0xEF);
        Write(apic, R.TaskPriority, 0x40);
        Assert.True(apic.TryWrite(R.ApicBaseMsr, LocalApic.DefaultBase | LocalApic.ApicBaseBootstrap));
        Assert.True(apic.TryWrite(R.ApicBaseMsr, XApic | LocalApic.ApicBaseBootstrap));
        Assert.Equal(0xFFu, Read(apic, R.SpuriousVector));
        Assert.Equal(0u, Read(apic, R.TaskPriority));
    }

    [Fact]
    public void BaseRelocationMovesThePage()
    {
        var apic = _m[0];
        var seen = new List<ulong>();
        apic.MmioMappingChanged += a => seen.Add(a.MmioBase);
        Assert.True(apic.TryWrite(R.ApicBaseMsr, 0xFED0_0000 | LocalApic.ApicBaseGlobalEnable | LocalApic.ApicBaseBootstrap));
        Assert.Equal(0xFED0_0000UL, apic.MmioBase);
        Assert.True(apic.IsBootstrapProcessor);
        Assert.Equal([0xFED0_0000UL], seen);
        Assert.True(apic.TryWrite(R.ApicBaseMsr, 0xFED0_0000 | LocalApic.ApicBaseGlobalEnable | LocalApic.ApicBaseBootstrap));
        Assert.Single(seen);                                                        // no change, no event
    }

    [Fact]
    public void AddressBitsAndX2ApicSupportFollowTheBus()
    {
        using var m = new ApicTestMachine(1, new ApicBus { X2ApicSupported = false, PhysicalAddressBits = 36 });
        Assert.False(m[0].TryWrite(R.ApicBaseMsr, X2Apic));
        Assert.False(m[0].TryWrite(R.ApicBaseMsr, (1UL << 36) | XApic));
        Assert.True(m[0].TryWrite(R.ApicBaseMsr, (1UL << 35) | XApic));
    }
}
