namespace Sharpvisor.Machine.Devices.Power;

/// <summary>What an <see cref="AcpiPowerDevice"/> holds: whether WAK_STS is set.</summary>
public sealed record AcpiPowerDeviceState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public bool WakeStatus { get; init; }
}
