namespace Sharpvisor.Machine.Devices.Testing;

/// <summary>The one register of a <see cref="TestEchoPortDevice"/>.</summary>
public sealed record TestEchoPortDeviceState
{
    public const int CurrentVersion = 1;
    public int Version { get; init; }
    public uint Register { get; init; }
}
