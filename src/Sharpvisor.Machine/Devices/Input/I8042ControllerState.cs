using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Input;

/// <summary>Everything an <see cref="I8042Controller"/> holds.</summary>
public sealed record I8042ControllerState : IDeviceState
{
    public static int CurrentVersion => 2; // 2: the keyboard on the first port

    /// <summary>The controller's 32 bytes of internal RAM; byte 0 is the command byte (configuration byte).</summary>
    public byte[] Ram { get; init; } = new byte[I8042Controller.RamSize];
    public byte OutputPort { get; init; }
    public byte OutputBuffer { get; init; }
    public bool OutputBufferFull { get; init; }
    public bool OutputFromAux { get; init; }
    public bool Timeout { get; init; }
    /// <summary>A command written to port 0x64 that still waits for its data byte on port 0x60, or 0.</summary>
    public byte PendingCommand { get; init; }
    public bool LastWriteWasCommand { get; init; }
    public Ps2KeyboardState Keyboard { get; init; } = new();
}
