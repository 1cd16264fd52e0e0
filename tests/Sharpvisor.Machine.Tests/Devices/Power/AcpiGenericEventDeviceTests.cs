using Sharpvisor.Machine.Acpi;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Power;
using Sharpvisor.Machine.Interrupts;

namespace Sharpvisor.Machine.Tests.Devices.Power;

public sealed class AcpiGenericEventDeviceTests
{
    private readonly RecordingInterruptController _pic = new();
    private readonly PortIoBus _bus = new();
    private readonly AcpiGenericEventDevice _device;

    public AcpiGenericEventDeviceTests()
    {
        _device = new AcpiGenericEventDevice(new InterruptLine(_pic, AcpiGenericEventDevice.Gsi));
        _bus.Register(AcpiGenericEventDevice.EventPort, AcpiGenericEventDevice.PortCount, _device);
    }

    private byte ReadEvents()
    {
        Span<byte> b = stackalloc byte[1];
        _bus.Read(AcpiGenericEventDevice.EventPort, b);
        return b[0];
    }

    [Fact]
    public void The_device_sits_where_the_DSDT_says()
    {
        var described = new GenericEventDeviceDescription();
        Assert.Equal(AcpiGenericEventDevice.EventPort, described.EventPort);
        Assert.Equal(AcpiGenericEventDevice.Gsi, described.Gsi);
        Assert.Equal(new AcpiTableBuilder([0]).GenericEventDevice, described);
    }

    [Fact]
    public void A_press_raises_the_line_until_the_guest_reads_the_event_once()
    {
        Assert.Equal(0, ReadEvents());
        Assert.Empty(_pic.LevelChanges);
        _device.PressPowerButton();
        _device.PressPowerButton();                         // before the guest looks: one event
        Assert.True(_pic.IsAsserted(AcpiGenericEventDevice.Gsi));
        Assert.Equal(AcpiGenericEventDevice.PowerButtonEvent, ReadEvents());
        Assert.False(_pic.IsAsserted(AcpiGenericEventDevice.Gsi));
        Assert.Equal(0, ReadEvents());
        _bus.Write(AcpiGenericEventDevice.EventPort, [0xFF]); // writes change nothing
        Assert.Equal(0, ReadEvents());
        Assert.Equal([true, true, false], _pic.Levels(AcpiGenericEventDevice.Gsi));
    }

    [Fact]
    public void Presses_from_many_threads_all_land_and_the_line_ends_low_after_the_read()
    {
        Parallel.For(0, 64, _ => _device.PressPowerButton());
        Assert.Equal(AcpiGenericEventDevice.PowerButtonEvent, ReadEvents());
        Assert.False(_pic.IsAsserted(AcpiGenericEventDevice.Gsi));
    }

    [Fact]
    public void A_pending_press_survives_save_and_restore()
    {
        _device.PressPowerButton();
        var state = _device.SaveState();
        Assert.Equal(AcpiGenericEventDevice.PowerButtonEvent, state.PendingEvents);

        var pic = new RecordingInterruptController();
        var copy = new AcpiGenericEventDevice(new InterruptLine(pic, AcpiGenericEventDevice.Gsi));
        copy.RestoreState(state);
        Assert.True(pic.IsAsserted(AcpiGenericEventDevice.Gsi));
        Span<byte> b = stackalloc byte[1];
        copy.Read(0, b);
        Assert.Equal(AcpiGenericEventDevice.PowerButtonEvent, b[0]);
        Assert.False(pic.IsAsserted(AcpiGenericEventDevice.Gsi));
        copy.RestoreState(new AcpiGenericEventDeviceState());
        Assert.Equal(new AcpiGenericEventDeviceState(), copy.SaveState());
    }
}
