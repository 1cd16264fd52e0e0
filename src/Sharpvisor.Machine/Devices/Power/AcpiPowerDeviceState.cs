using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Power;

/// <summary>What an <see cref="AcpiPowerDevice"/> holds: whether WAK_STS is set.</summary>
public sealed record AcpiPowerDeviceState : IDeviceState
{
    public static int CurrentVersion => 1;

    public bool WakeStatus { get; init; }
}
