using System.Buffers.Binary;
using Sharpvisor.Machine.Devices.Interrupts;
using static Sharpvisor.Engines.Emulator.Tests.Apic.ApicTestMachine;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Tests.Apic;

/// <summary>The IOAPIC wired to the emulator's APIC bus: messages in, level-triggered EOIs back.</summary>
public sealed class IoApicRoutingTests : IDisposable
{
    private readonly ApicTestMachine _m = new ApicTestMachine(2).Enabled();
    private readonly IoApic _ioApic;

    public IoApicRoutingTests()
    {
        _ioApic = new IoApic(_m.Bus);
        _m.Bus.ConnectIoApic(_ioApic);
    }

    public void Dispose() => _m.Dispose();

    private void Program(int pin, ulong entry)
    {
        Span<byte> b = stackalloc byte[4];
        for (int half = 1; half >= 0; half--)
        {
            _ioApic.Write(IoApic.RegisterSelectOffset, [(byte)(IoApic.RedirectionTableBase + 2 * pin + half)]);
            BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)(entry >> (32 * half)));
            _ioApic.Write(IoApic.WindowOffset, b);
        }
    }

    [Fact]
    public void LevelTriggeredLineIsRedeliveredAfterEoiWhileAsserted()
    {
        Program(9, 0x59 | IoApic.EntryLevelTriggered | (1UL << 56));
        _m.Bus.SetIrqLevel(9, true);
        var apic = _m[1];
        Assert.True(TmrHas(apic, 0x59));
        Assert.True(apic.TryAcknowledge(out byte v));
        Assert.Equal(0x59, v);
        Assert.NotEqual(0UL, _ioApic.GetRedirectionEntry(9) & IoApic.EntryRemoteIrr);
        Write(apic, R.EndOfInterrupt, 0);                       // still asserted: comes back
        Assert.True(IrrHas(apic, 0x59));
        Assert.True(apic.TryAcknowledge(out _));
        _m.Bus.SetIrqLevel(9, false);
        Write(apic, R.EndOfInterrupt, 0);
        Assert.False(IrrHas(apic, 0x59));
        Assert.Equal(0UL, _ioApic.GetRedirectionEntry(9) & IoApic.EntryRemoteIrr);
        Assert.False(IrrHas(_m[0], 0x59));
    }

    [Fact]
    public void EdgeLineAndLogicalDestination()
    {
        Write(_m[0], R.LogicalDestination, 1u << 24);
        Write(_m[1], R.LogicalDestination, 2u << 24);
        Program(4, 0x34 | IoApic.EntryLogicalDestination | (3UL << 56));
        _m.Bus.SetIrqLevel(4, true);
        _m.Bus.SetIrqLevel(4, false);
        Assert.True(IrrHas(_m[0], 0x34) && IrrHas(_m[1], 0x34));
        Assert.False(TmrHas(_m[0], 0x34));
        Assert.True(_m[0].TryAcknowledge(out _));
        Write(_m[0], R.EndOfInterrupt, 0);                        // edge: no EOI broadcast, nothing changes
        Assert.Equal(0UL, _ioApic.GetRedirectionEntry(4) & IoApic.EntryRemoteIrr);
    }

    [Fact]
    public void LevelLineToASoftwareDisabledApicLeavesNoRemoteIrr()
    {
        Write(_m[1], R.SpuriousVector, 0xFF);
        Program(9, 0x59 | IoApic.EntryLevelTriggered | (1UL << 56));
        _m.Bus.SetIrqLevel(9, true);
        Assert.Equal(0UL, _ioApic.GetRedirectionEntry(9) & IoApic.EntryRemoteIrr);
        Write(_m[1], R.SpuriousVector, 0x1FF);
        Program(9, 0x59 | IoApic.EntryLevelTriggered | (1UL << 56));
        Assert.True(IrrHas(_m[1], 0x59));
    }

    [Fact]
    public void GsisWithoutAnIoApicAreIgnored()
    {
        using var m = new ApicTestMachine(1).Enabled();
        m.Bus.SetIrqLevel(4, true);
        Assert.Null(m.Bus.IoApic);
        Assert.False(m[0].HasDeliverable);
    }
}
