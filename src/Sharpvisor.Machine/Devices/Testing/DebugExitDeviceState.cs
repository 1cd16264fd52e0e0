namespace Sharpvisor.Machine.Devices.Testing;

/// <summary>What a <see cref="DebugExitDevice"/> remembers: the exit code the guest asked for, if any.</summary>
public sealed record DebugExitDeviceState
{
    public const int CurrentVersion = 1;
    public int Version { get; init; }
    public int? RequestedExitCode { get; init; }
}
