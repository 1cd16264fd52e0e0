namespace Sharpvisor.Machine.Devices.Input;

/// <summary>Everything a <see cref="Ps2Keyboard"/> holds (part of <see cref="I8042ControllerState"/>).</summary>
public sealed record Ps2KeyboardState
{
    /// <summary>Bytes the keyboard has yet to send to the controller, oldest first.</summary>
    public byte[] Queue { get; init; } = [];
    public bool Scanning { get; init; } = true;
    public byte ScanCodeSet { get; init; } = Ps2Keyboard.DefaultScanCodeSet;
    /// <summary>A command that waits for its parameter byte (set LEDs, typematic rate, scan code set), or 0.</summary>
    public byte PendingCommand { get; init; }
}
