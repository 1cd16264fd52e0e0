using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Testing;

/// <summary>The 64 KiB a <see cref="TestEchoMemoryDevice"/> holds.</summary>
public sealed record TestEchoMemoryDeviceState : IDeviceState
{
    public static int CurrentVersion => 1;

    public byte[] Bytes { get; init; } = [];
}
