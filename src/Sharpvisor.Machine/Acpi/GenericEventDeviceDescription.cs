namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The Generic Event Device (ACPI0013) as the DSDT declares it: the level-triggered, active-high GSI it raises and the
/// byte-wide I/O port its _EVT method reads the pending events from (reading clears them). A hardware-reduced
/// platform has no fixed power button: the power button is a PNP0C0C device that _EVT notifies when the
/// <see cref="PowerButtonEvent"/> bit is set.
/// </summary>
public sealed record GenericEventDeviceDescription(ushort EventPort = 0x3C4, uint Gsi = 20)
{
    /// <summary>The event-register bit of a power button press.</summary>
    public const byte PowerButtonEvent = 0x01;

    /// <summary>The notification value of a button press (ACPI 6.x 4.8.3.1.1: "button pressed").</summary>
    public const byte ButtonPressedNotification = 0x80;
}
