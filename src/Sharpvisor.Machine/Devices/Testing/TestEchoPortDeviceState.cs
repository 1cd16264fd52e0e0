using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Testing;

/// <summary>The one register of a <see cref="TestEchoPortDevice"/>.</summary>
public sealed record TestEchoPortDeviceState : IDeviceState
{
    public static int CurrentVersion => 1;

    public uint Register { get; init; }
}
