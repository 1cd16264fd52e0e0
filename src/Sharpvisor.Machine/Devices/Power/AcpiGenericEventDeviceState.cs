using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Power;

/// <summary>What an <see cref="AcpiGenericEventDevice"/> holds: the events latched and not yet read by the guest.</summary>
public sealed record AcpiGenericEventDeviceState : IDeviceState
{
    public static int CurrentVersion => 1;

    /// <summary>Bits of the event register (<see cref="AcpiGenericEventDevice.PowerButtonEvent"/>, ...).</summary>
    public byte PendingEvents { get; init; }
}
