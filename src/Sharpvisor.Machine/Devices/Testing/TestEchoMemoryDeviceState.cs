namespace Sharpvisor.Machine.Devices.Testing;

/// <summary>The 64 KiB a <see cref="TestEchoMemoryDevice"/> holds.</summary>
public sealed record TestEchoMemoryDeviceState
{
    public const int CurrentVersion = 1;
    public int Version { get; init; }
    public byte[] Bytes { get; init; } = [];
}
