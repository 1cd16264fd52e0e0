using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Testing;

/// <summary>What a <see cref="DebugExitDevice"/> remembers: the exit code the guest asked for, if any.</summary>
public sealed record DebugExitDeviceState : IDeviceState
{
    public static int CurrentVersion => 1;

    public int? RequestedExitCode { get; init; }
}
