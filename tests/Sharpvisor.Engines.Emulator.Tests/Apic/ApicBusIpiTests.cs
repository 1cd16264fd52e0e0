using Sharpvisor.Engines.Emulator.Apic;
using Sharpvisor.Machine.Devices.Interrupts;
using static Sharpvisor.Engines.Emulator.Tests.Apic.ApicTestMachine;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Tests.Apic;

public sealed class ApicBusIpiTests : IDisposable
{
    private const uint Logical = 1 << 11, Assert_ = 1 << 14, LevelTrigger = 1 << 15;
    private const uint Self = 1 << 18, AllIncludingSelf = 2 << 18, AllExcludingSelf = 3 << 18;
    private const uint LowestPriority = 1 << 8, Nmi = 4 << 8, Init = 5 << 8, Startup = 6 << 8;
    private readonly ApicTestMachine _m = new ApicTestMachine(3).Enabled();

    public void Dispose() => _m.Dispose();

    /// <summary>Which APICs have <paramref name="vector"/> pending, as a bit per APIC.</summary>
    private int Receivers(int vector)
    {
        int set = 0;
        for (int i = 0; i < _m.Apics.Length; i++)
            if (IrrHas(_m[i], vector)) set |= 1 << i;
        return set;
    }

    [Fact]
    public void PhysicalDestination()
    {
        SendIpi(_m[0], 2, 0x41);
        Assert.Equal(0b100, Receivers(0x41));
        SendIpi(_m[0], 0xFF, 0x42);                              // broadcast
        Assert.Equal(0b111, Receivers(0x42));
        SendIpi(_m[0], 7, 0x43);                                 // nobody
        Assert.Equal(0, Receivers(0x43));
        Assert.True(_m.Cpus[2].InterruptCheckRequested);
    }

    [Fact]
    public void PhysicalDestinationFollowsAWrittenId()
    {
        Write(_m[1], R.Id, 0x20u << 24);
        SendIpi(_m[0], 0x20, 0x41);
        SendIpi(_m[0], 1, 0x42);
        Assert.Equal(0b010, Receivers(0x41));
        Assert.Equal(0, Receivers(0x42));
    }

    [Fact]
    public void LogicalFlatModel()
    {
        for (int i = 0; i < 3; i++) Write(_m[i], R.LogicalDestination, (1u << i) << 24);
        SendIpi(_m[0], 0x02, Logical | 0x41);
        SendIpi(_m[0], 0x05, Logical | 0x42);
        SendIpi(_m[0], 0x08, Logical | 0x43);
        SendIpi(_m[0], 0xFF, Logical | 0x44);
        Assert.Equal(0b010, Receivers(0x41));
        Assert.Equal(0b101, Receivers(0x42));
        Assert.Equal(0, Receivers(0x43));
        Assert.Equal(0b111, Receivers(0x44));
    }

    [Fact]
    public void LogicalClusterModel()
    {
        foreach (var apic in _m.Apics) Write(apic, R.DestinationFormat, 0x0FFF_FFFF);
        Write(_m[0], R.LogicalDestination, 0x11u << 24);         // cluster 1, member bit 0
        Write(_m[1], R.LogicalDestination, 0x12u << 24);         // cluster 1, member bit 1
        Write(_m[2], R.LogicalDestination, 0x21u << 24);         // cluster 2, member bit 0
        SendIpi(_m[0], 0x12, Logical | 0x41);
        SendIpi(_m[0], 0x13, Logical | 0x42);
        SendIpi(_m[0], 0x21, Logical | 0x43);
        SendIpi(_m[0], 0x31, Logical | 0x44);
        SendIpi(_m[0], 0xFF, Logical | 0x45);
        Assert.Equal(0b010, Receivers(0x41));
        Assert.Equal(0b011, Receivers(0x42));
        Assert.Equal(0b100, Receivers(0x43));
        Assert.Equal(0, Receivers(0x44));
        Assert.Equal(0b111, Receivers(0x45));
    }

    [Fact]
    public void Shorthands()
    {
        SendIpi(_m[1], 0, Self | 0x41);
        SendIpi(_m[1], 0, AllIncludingSelf | 0x42);
        SendIpi(_m[1], 0, AllExcludingSelf | 0x43);
        Assert.Equal(0b010, Receivers(0x41));
        Assert.Equal(0b111, Receivers(0x42));
        Assert.Equal(0b101, Receivers(0x43));
    }

    [Fact]
    public void LowestPriorityPicksOneByTaskPriorityThenNumber()
    {
        SendIpi(_m[0], 0xFF, LowestPriority | 0x41);
        Assert.Equal(0b001, Receivers(0x41));
        Write(_m[0], R.TaskPriority, 0x30);
        SendIpi(_m[0], 0xFF, LowestPriority | 0x42);
        Assert.Equal(0b010, Receivers(0x42));
        Write(_m[1], R.TaskPriority, 0x30);
        Write(_m[2], R.SpuriousVector, 0xFF);                    // software-disabled: not a candidate
        SendIpi(_m[0], 0xFF, LowestPriority | 0x43);
        Assert.Equal(0b001, Receivers(0x43));
        SendIpi(_m[0], 0, AllExcludingSelf | LowestPriority | 0x44);
        Assert.Equal(0b010, Receivers(0x44));
    }

    [Fact]
    public void LevelTriggeredFixedIpiSetsTmr()
    {
        SendIpi(_m[0], 1, LevelTrigger | Assert_ | 0x41);
        Assert.True(TmrHas(_m[1], 0x41));
    }

    [Fact]
    public void NmiIsRecordedForTheCore()
    {
        _m.Cpus[1].InterruptCheckRequested = false;
        SendIpi(_m[0], 1, Nmi);
        Assert.True(_m.Cpus[1].InterruptCheckRequested);
        Assert.False(_m[0].NmiPending);
        Assert.True(_m[1].NmiPending);
        Assert.True(_m[1].TryTakeNmi());
        Assert.False(_m[1].TryTakeNmi());
        Assert.False(_m[1].HasDeliverable);                      // an NMI is not an IRR vector
    }

    [Fact]
    public void InitThenStartupAsLinuxSendsThem()
    {
        var ap = _m[1];
        Write(ap, R.TaskPriority, 0x20);
        SendIpi(_m[0], 1, Startup | 0x9A);                        // no INIT yet: ignored
        Assert.False(ap.StartupPending);
        SendIpi(_m[0], 1, LevelTrigger | Assert_ | Init);         // INIT assert
        Assert.True(ap.InitPending);
        Assert.True(ap.TryTakeInit());
        Assert.False(ap.TryTakeInit());
        Assert.True(ap.WaitingForStartup);
        Assert.Equal(0u, Read(ap, R.TaskPriority));               // INIT reset the registers...
        Assert.Equal(0xFFu, Read(ap, R.SpuriousVector));
        Assert.Equal(1u << 24, Read(ap, R.Id));                   // ...but not the ID
        SendIpi(_m[0], 1, LevelTrigger | Init);                   // INIT de-assert: ignored
        Assert.False(ap.InitPending);
        SendIpi(_m[0], 1, Startup | 0x9A);
        SendIpi(_m[0], 1, Startup | 0x9B);                        // the second SIPI changes nothing
        Assert.True(ap.TryTakeStartup(out byte vector));
        Assert.Equal(0x9A, vector);
        Assert.False(ap.WaitingForStartup);
        SendIpi(_m[0], 1, Startup | 0x9C);                        // running: ignored
        Assert.False(ap.TryTakeStartup(out _));
        Assert.False(_m[2].InitPending);
    }

    [Fact]
    public void StartupArrivingBeforeInitIsTakenWaitsForIt()
    {
        var ap = _m[2];
        SendIpi(_m[0], 2, Assert_ | Init);
        SendIpi(_m[0], 2, Startup | 0x10);
        Assert.False(ap.TryTakeStartup(out _));                    // INIT first
        Assert.True(ap.TryTakeInit());
        Assert.True(ap.TryTakeStartup(out byte vector));
        Assert.Equal(0x10, vector);
    }

    [Fact]
    public void InitReachesASoftwareDisabledApic()
    {
        Write(_m[1], R.SpuriousVector, 0xFF);
        SendIpi(_m[0], 1, Assert_ | Init);
        Assert.True(_m[1].InitPending);
    }

    [Fact]
    public void MessagesFromTheIoApicFormatUseXApicDestinations()
    {
        Assert.True(_m.Bus.Deliver(new InterruptMessage(1, false, InterruptDeliveryMode.Fixed, 0x61, true)));
        Assert.Equal(0b010, Receivers(0x61));
        Assert.True(TmrHas(_m[1], 0x61));
        Assert.False(_m.Bus.Deliver(new InterruptMessage(9, false, InterruptDeliveryMode.Fixed, 0x62, false)));
        Assert.False(_m.Bus.Deliver(new InterruptMessage(0, false, InterruptDeliveryMode.Smi, 0, false)));
        Assert.False(_m.Bus.Deliver(new InterruptMessage(0, false, InterruptDeliveryMode.ExtInt, 0, false)));
    }

    [Fact]
    public void DuplicateApicIdsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new LocalApic(_m.Bus, _m.Cpus[0], 1, false, _m.Clock));
        Assert.Same(_m[2], _m.Bus.FindByApicId(2));
        Assert.Null(_m.Bus.FindByApicId(5));
    }
}
