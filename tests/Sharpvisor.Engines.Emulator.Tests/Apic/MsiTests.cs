using Sharpvisor.Engines.Emulator.Apic;
using Sharpvisor.Machine.Devices.Interrupts;
using static Sharpvisor.Engines.Emulator.Tests.Apic.ApicTestMachine;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Tests.Apic;

public sealed class MsiTests
{
    [Theory]
    [InlineData(0xFEE0_1000UL, 0x0000_0041u, 1u, false, InterruptDeliveryMode.Fixed, 0x41, false)]
    [InlineData(0xFEEA_B004UL, 0x0000_0052u, 0xABu, true, InterruptDeliveryMode.Fixed, 0x52, false)]      // logical
    [InlineData(0xFEE0_300CUL, 0x0000_0063u, 3u, true, InterruptDeliveryMode.LowestPriority, 0x63, false)] // RH
    [InlineData(0xFEE0_2000UL, 0x0000_0164u, 2u, false, InterruptDeliveryMode.LowestPriority, 0x64, false)]
    [InlineData(0xFEE0_0000UL, 0x0000_C075u, 0u, false, InterruptDeliveryMode.Fixed, 0x75, true)]         // level, asserted
    [InlineData(0xFEEF_F000UL, 0x0000_0400u, 0xFFu, false, InterruptDeliveryMode.Nmi, 0x00, false)]
    [InlineData(0xFEE0_1008UL, 0x0000_0400u, 1u, false, InterruptDeliveryMode.Nmi, 0x00, false)]         // RH leaves NMI alone
    public void Decoding(ulong address, uint data, uint destination, bool logical, InterruptDeliveryMode mode, byte vector, bool level)
    {
        Assert.True(ApicBus.TryDecodeMsi(address, data, out var message));
        Assert.Equal(new InterruptMessage(destination, logical, mode, vector, level), message);
    }

    [Theory]
    [InlineData(0xFED0_1000UL, 0x41u)]           // not the interrupt window
    [InlineData(0x1_FEE0_1000UL, 0x41u)]         // bits above 31
    [InlineData(0xFEE0_1000UL, 0x8041u)]         // level-triggered de-assert
    public void Rejected(ulong address, uint data) => Assert.False(ApicBus.TryDecodeMsi(address, data, out _));

    [Fact]
    public void SignalMsiDelivers()
    {
        using var m = new ApicTestMachine(2).Enabled();
        m.Bus.SignalMsi(0xFEE0_1000, 0x49);
        Assert.True(IrrHas(m[1], 0x49));
        Assert.False(IrrHas(m[0], 0x49));
        m.Bus.SignalMsi(0xFED0_1000, 0x4A);
        Assert.False(IrrHas(m[0], 0x4A) || IrrHas(m[1], 0x4A));
        Write(m[0], R.LogicalDestination, 1u << 24);
        Write(m[1], R.LogicalDestination, 2u << 24);
        m.Bus.SignalMsi(0xFEE0_300C, 0x4B);                      // logical {0,1}, lowest priority: APIC 0
        Assert.True(IrrHas(m[0], 0x4B));
        Assert.False(IrrHas(m[1], 0x4B));
    }
}
