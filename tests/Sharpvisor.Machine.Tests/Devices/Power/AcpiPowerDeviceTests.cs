using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Power;

namespace Sharpvisor.Machine.Tests.Devices.Power;

public sealed class AcpiPowerDeviceTests
{
    private readonly PortIoBus _bus = new();
    private readonly AcpiPowerDevice _device;
    private int _powerOffs, _resets;

    public AcpiPowerDeviceTests()
    {
        _device = new AcpiPowerDevice(() => _powerOffs++, () => _resets++);
        _bus.Register(AcpiPowerDevice.BasePort, AcpiPowerDevice.PortCount, _device);
    }

    private byte In(ushort port)
    {
        Span<byte> b = stackalloc byte[1];
        _bus.Read(port, b);
        return b[0];
    }

    [Fact]
    public void ConstantsMatchTheRegisterLayout()
    {
        Assert.Equal(0x3C0, AcpiPowerDevice.SleepControlPort);
        Assert.Equal(0x3C1, AcpiPowerDevice.SleepStatusPort);
        Assert.Equal(0x3C2, AcpiPowerDevice.ResetPort);
        Assert.Equal(5, AcpiPowerDevice.S5SleepType);
        Assert.Equal(1, AcpiPowerDevice.ResetValue);
    }

    [Fact]
    public void SleepEnableWithS5RequestsPowerOff()
    {
        // What Linux writes for S5: SLP_TYP << 2 | SLP_EN.
        _bus.Write(AcpiPowerDevice.SleepControlPort, [(byte)(AcpiPowerDevice.S5SleepType << AcpiPowerDevice.SleepTypeShift | AcpiPowerDevice.SleepEnable)]);
        Assert.Equal(1, _powerOffs);
        Assert.Equal(0, _resets);
    }

    [Fact]
    public void S5TypeWithoutSleepEnableDoesNothing()
    {
        _bus.Write(AcpiPowerDevice.SleepControlPort, [(byte)(AcpiPowerDevice.S5SleepType << AcpiPowerDevice.SleepTypeShift)]);
        Assert.Equal(0, _powerOffs);
        Assert.Equal(0, In(AcpiPowerDevice.SleepStatusPort));
    }

    [Fact]
    public void OtherSleepStatesWakeAtOnceThroughWakStatus()
    {
        Assert.Equal(0, In(AcpiPowerDevice.SleepStatusPort));
        _bus.Write(AcpiPowerDevice.SleepControlPort, [(byte)(3 << AcpiPowerDevice.SleepTypeShift | AcpiPowerDevice.SleepEnable)]);
        Assert.Equal(0, _powerOffs);
        Assert.Equal(AcpiPowerDevice.WakeStatus, In(AcpiPowerDevice.SleepStatusPort));
        _bus.Write(AcpiPowerDevice.SleepStatusPort, [0x00]);          // writing 0 leaves it
        Assert.Equal(AcpiPowerDevice.WakeStatus, In(AcpiPowerDevice.SleepStatusPort));
        _bus.Write(AcpiPowerDevice.SleepStatusPort, [AcpiPowerDevice.WakeStatus]);
        Assert.Equal(0, In(AcpiPowerDevice.SleepStatusPort));
    }

    [Fact]
    public void ResetRegisterRequestsResetOnlyForTheResetValue()
    {
        _bus.Write(AcpiPowerDevice.ResetPort, [0x06]);
        Assert.Equal(0, _resets);
        _bus.Write(AcpiPowerDevice.ResetPort, [AcpiPowerDevice.ResetValue]);
        Assert.Equal(1, _resets);
        Assert.Equal(0, _powerOffs);
    }

    [Fact]
    public void ControlAndResetRegistersReadZero()
    {
        _bus.Write(AcpiPowerDevice.SleepControlPort, [0x1C]);
        Assert.Equal(0, In(AcpiPowerDevice.SleepControlPort));
        Assert.Equal(0, In(AcpiPowerDevice.ResetPort));
        Span<byte> wide = stackalloc byte[4];
        _device.Read(0, wide);
        Assert.Equal([0, 0, 0, 0xFF], wide.ToArray());
    }

    [Fact]
    public void WakeStatusSurvivesSaveAndRestore()
    {
        _bus.Write(AcpiPowerDevice.SleepControlPort, [(byte)(1 << AcpiPowerDevice.SleepTypeShift | AcpiPowerDevice.SleepEnable)]);
        var copy = new AcpiPowerDevice(() => { }, () => { });
        copy.RestoreState(_device.SaveState());
        Assert.Equal(new AcpiPowerDeviceState { WakeStatus = true }, copy.SaveState());
    }
}
