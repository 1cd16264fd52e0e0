using Sharpvisor.Machine.Devices.Virtio;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

public sealed class VirtioBalloonTests : IDisposable
{
    private readonly VirtioBalloon _balloon = new();
    private readonly FakeVirtioDriver _driver;

    public VirtioBalloonTests()
    {
        _driver = new FakeVirtioDriver(_balloon);
        _driver.EnableMsix(0, 0xFEE0_0000, 0x30);
        _driver.Start(msixVector: 1);
        _driver.EnableMsix(1, 0xFEE0_0000, 0x31);
        _driver.WriteCommon(VirtioPciDevice.ConfigMsixVectorRegister, 2, 0);
    }

    public void Dispose() => _driver.Dispose();

    [Fact]
    public void A_new_target_is_in_the_configuration_with_a_configuration_interrupt()
    {
        byte generation = (byte)_driver.ReadCommon(VirtioPciDevice.ConfigGenerationRegister, 1);
        _balloon.SetTargetPages(300);
        Assert.Equal(300UL, _driver.ReadBar(_driver.Bar0 + VirtioPciDevice.DeviceConfigOffset, 4));
        Assert.Contains((0xFEE0_0000UL, 0x30u), _driver.Interrupts.Messages);
        Assert.NotEqual(generation, (byte)_driver.ReadCommon(VirtioPciDevice.ConfigGenerationRegister, 1));
        _driver.WriteBar(_driver.Bar0 + VirtioPciDevice.DeviceConfigOffset + 4, 4, 120);
        Assert.Equal(120u, _balloon.ActualPages);
        _driver.WriteBar(_driver.Bar0 + VirtioPciDevice.DeviceConfigOffset, 4, 5);     // num_pages is the host's
        Assert.Equal(300u, _balloon.TargetPages);
    }

    [Fact]
    public void Inflated_pages_go_back_to_the_host_and_read_as_zero()
    {
        const ulong first = 0x200000;
        for (int i = 0; i < 3; i++) _driver.Memory.GetSpan(first + (ulong)i * 4096, 4096).Fill(0xAB);
        const ulong list = FakeVirtioDriver.DataArea;
        _driver.Memory.WriteUInt32(list, (uint)(first >> 12));
        _driver.Memory.WriteUInt32(list + 4, (uint)(first >> 12) + 2);
        _driver.Memory.WriteUInt32(list + 8, 0xFFFF_FFF0);                              // not RAM: skipped
        _driver.Submit((list, 12, false));
        _driver.Notify();
        Assert.Equal(1, _driver.UsedIndex);
        Assert.Equal(2, _balloon.PagesReturned);
        Assert.Equal(1, _balloon.BadPageNumbers);
        Assert.False(_driver.Device.IsBroken);
        Assert.All(_driver.Memory.GetSpan(first, 4096).ToArray(), b => Assert.Equal(0, b));
        Assert.All(_driver.Memory.GetSpan(first + 4096, 4096).ToArray(), b => Assert.Equal(0xAB, b));
        Assert.All(_driver.Memory.GetSpan(first + 8192, 4096).ToArray(), b => Assert.Equal(0, b));
        Assert.Contains((0xFEE0_0000UL, 0x31u), _driver.Interrupts.Messages);
    }
}
