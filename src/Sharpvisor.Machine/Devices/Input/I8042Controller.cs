using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;
using Sharpvisor.Machine.Interrupts;

namespace Sharpvisor.Machine.Devices.Input;

/// <summary>
/// The PC keyboard controller (an Intel 8042 as PS/2 machines have it) with a <see cref="Ps2Keyboard"/> on its first
/// port and nothing on the mouse port. It answers the controller commands Linux's i8042 probe uses, echoes bytes
/// through its output buffer on request (0xD2/0xD3), passes bytes for the keyboard to it and moves the keyboard's
/// replies and key strokes into the output buffer one at a time (while the keyboard interface is enabled), reports a
/// timeout (0xFF with status bit 6) for any byte sent to the absent mouse, and turns a pulse of output-port bit 0
/// (command 0xFE, or 0xD1 with bit 0 clear) into a reset request. <see cref="TypeCtrlAltDel"/> may be called from any
/// thread. The A20 bit of
/// the output port is kept for reads but changes nothing: guest memory never wraps at 1 MiB.
/// <para>
/// Register it with <see cref="Attach"/>, which maps the data port (0x60) and the status/command port (0x64) as two
/// 1-byte ranges and leaves 0x61-0x63 to other devices. As an <see cref="IBusDevice"/> its offsets count from 0x60:
/// <see cref="DataOffset"/> is the data port and <see cref="CommandOffset"/> the status/command port.
/// </para>
/// </summary>
public sealed class I8042Controller : IBusDevice, IStatefulDevice<I8042ControllerState>
{
    public const ushort DataPort = 0x60;
    public const ushort CommandPort = 0x64;
    public const ulong DataOffset = 0;
    public const ulong CommandOffset = CommandPort - DataPort;
    public const uint KeyboardIrq = 1;
    public const uint AuxIrq = 12;
    public const int RamSize = 32;

    public const byte StatusOutputFull = 0x01, StatusInputFull = 0x02, StatusSystemFlag = 0x04, StatusLastWasCommand = 0x08,
        StatusKeyboardUnlocked = 0x10, StatusAuxData = 0x20, StatusTimeout = 0x40, StatusParityError = 0x80;

    public const byte CommandByteKeyboardInterrupt = 0x01, CommandByteAuxInterrupt = 0x02, CommandByteSystemFlag = 0x04,
        CommandByteKeyboardDisabled = 0x10, CommandByteAuxDisabled = 0x20, CommandByteTranslate = 0x40;

    public const byte OutputPortReset = 0x01, OutputPortA20 = 0x02, OutputPortKeyboardFull = 0x10, OutputPortAuxFull = 0x20;

    public const byte ReadRamFirst = 0x20, ReadRamLast = 0x3F, WriteRamFirst = 0x60, WriteRamLast = 0x7F,
        DisableAux = 0xA7, EnableAux = 0xA8, TestAux = 0xA9, SelfTest = 0xAA, TestKeyboard = 0xAB,
        DisableKeyboard = 0xAD, EnableKeyboard = 0xAE, ReadOutputPort = 0xD0, WriteOutputPort = 0xD1,
        WriteKeyboardOutput = 0xD2, WriteAuxOutput = 0xD3, WriteToAux = 0xD4, PulseFirst = 0xF0, ResetPulse = 0xFE;

    public const byte SelfTestPassed = 0x55, InterfaceTestPassed = 0x00, DeviceTimeoutByte = 0xFF;

    // What PC firmware leaves: both interrupts on, system flag set after POST, scan-code translation on.
    public const byte PowerOnCommandByte = CommandByteKeyboardInterrupt | CommandByteAuxInterrupt | CommandByteSystemFlag
        | CommandByteTranslate;
    // Reset inactive (high), A20 enabled, the undefined bits and the keyboard clock/data lines high.
    public const byte PowerOnOutputPort = 0xCF;

    private readonly Lock _lock = new();
    private readonly Action _resetRequested;
    private readonly InterruptLine? _keyboardIrq;
    private readonly InterruptLine? _auxIrq;
    private readonly byte[] _ram = new byte[RamSize];
    private readonly Ps2Keyboard _keyboard = new();
    private byte _outputPort = PowerOnOutputPort;
    private byte _outputBuffer;
    private bool _outputFull, _outputFromAux, _timeout;
    private byte _pendingCommand;
    private bool _lastWriteWasCommand;
    private bool _keyboardIrqAsserted, _auxIrqAsserted;

    /// <param name="resetRequested">Called, outside the controller's lock, when the guest pulses the CPU reset line.</param>
    /// <param name="keyboardIrq">IRQ 1, raised while the output buffer holds a keyboard-side byte and the command byte allows it.</param>
    /// <param name="auxIrq">IRQ 12, the same for mouse-side bytes. Without it Linux's AUX IRQ test fails and it drops the AUX port.</param>
    public I8042Controller(Action resetRequested, InterruptLine? keyboardIrq = null, InterruptLine? auxIrq = null)
    {
        ArgumentNullException.ThrowIfNull(resetRequested);
        _resetRequested = resetRequested;
        _keyboardIrq = keyboardIrq;
        _auxIrq = auxIrq;
        _ram[0] = PowerOnCommandByte;
    }

    public byte CommandByte
    {
        get { lock (_lock) return _ram[0]; }
    }

    /// <summary>Registers port 0x60 and port 0x64 as two 1-byte ranges on <paramref name="bus"/>.</summary>
    public void Attach(PortIoBus bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.Register(DataPort, 1, new BusDeviceWindow(this, DataOffset), "i8042 data");
        bus.Register(CommandPort, 1, new BusDeviceWindow(this, CommandOffset), "i8042 status/command");
    }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            // A wider access covers consecutive ports; only 0x60 and 0x64 are this controller's.
            for (int i = 0; i < data.Length; i++)
            {
                ulong port = offset + (ulong)i;
                data[i] = port == DataOffset ? ReadData() : port == CommandOffset ? Status() : (byte)0xFF;
            }
            // The line drops with the emptied buffer before the keyboard's next byte raises it again: IRQ 1 is
            // edge-triggered, and the next byte needs an edge of its own.
            UpdateInterrupts();
            TakeFromKeyboard();
            UpdateInterrupts();
        }
    }

    /// <summary>
    /// Types Ctrl-Alt-Del on the keyboard (pressed in that order, released in reverse), as Firecracker's SendCtrlAltDel
    /// does. Returns false when the keyboard dropped the keys: the guest turned scanning off or has not read its buffer.
    /// </summary>
    public bool TypeCtrlAltDel()
    {
        lock (_lock)
        {
            bool typed = _keyboard.TypeChord([Ps2Key.LeftControl, Ps2Key.LeftAlt, Ps2Key.Delete], Translating);
            TakeFromKeyboard();
            UpdateInterrupts();
            return typed;
        }
    }

    private bool Translating => (_ram[0] & CommandByteTranslate) != 0;

    // The keyboard may send while the host's buffer is empty and the keyboard interface is enabled.
    private void TakeFromKeyboard()
    {
        if (!_outputFull && (_ram[0] & CommandByteKeyboardDisabled) == 0 && _keyboard.HasOutput)
            PutOutput(_keyboard.TakeOutput());
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        bool reset = false;
        lock (_lock)
        {
            for (int i = 0; i < data.Length; i++)
            {
                ulong port = offset + (ulong)i;
                if (port == DataOffset) reset |= WriteData(data[i]);
                else if (port == CommandOffset) reset |= WriteCommand(data[i]);
            }
            TakeFromKeyboard();
            UpdateInterrupts();
        }
        if (reset) _resetRequested();
    }

    public string StateKey => "i8042";

    public I8042ControllerState SaveState()
    {
        lock (_lock)
            return new I8042ControllerState
            {
                Ram = (byte[])_ram.Clone(),
                OutputPort = _outputPort,
                OutputBuffer = _outputBuffer,
                OutputBufferFull = _outputFull,
                OutputFromAux = _outputFromAux,
                Timeout = _timeout,
                PendingCommand = _pendingCommand,
                LastWriteWasCommand = _lastWriteWasCommand,
                Keyboard = _keyboard.SaveState(),
            };
    }

    /// <summary>Loads <paramref name="state"/> and drives both interrupt lines once so the controller agrees with it.</summary>
    public void RestoreState(I8042ControllerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Ram.Length != RamSize)
            throw new ArgumentException($"i8042 state holds {state.Ram.Length} bytes of RAM, not {RamSize}", nameof(state));
        if (state.Keyboard is null) throw new ArgumentException("i8042 state has no keyboard record", nameof(state));
        lock (_lock)
        {
            _keyboard.RestoreState(state.Keyboard);
            state.Ram.CopyTo(_ram, 0);
            _outputPort = state.OutputPort;
            _outputBuffer = state.OutputBuffer;
            _outputFull = state.OutputBufferFull;
            _outputFromAux = state.OutputFromAux;
            _timeout = state.Timeout;
            _pendingCommand = state.PendingCommand;
            _lastWriteWasCommand = state.LastWriteWasCommand;
            _keyboardIrqAsserted = KeyboardInterruptPending;
            _auxIrqAsserted = AuxInterruptPending;
            _keyboardIrq?.Set(_keyboardIrqAsserted);
            _auxIrq?.Set(_auxIrqAsserted);
        }
    }

    private bool KeyboardInterruptPending => _outputFull && !_outputFromAux && (_ram[0] & CommandByteKeyboardInterrupt) != 0;
    private bool AuxInterruptPending => _outputFull && _outputFromAux && (_ram[0] & CommandByteAuxInterrupt) != 0;

    private byte Status()
    {
        // The input buffer is never full: every byte is handled as it is written.
        byte status = StatusKeyboardUnlocked;
        if (_outputFull) status |= StatusOutputFull;
        if (_outputFull && _outputFromAux) status |= StatusAuxData;
        if ((_ram[0] & CommandByteSystemFlag) != 0) status |= StatusSystemFlag;
        if (_lastWriteWasCommand) status |= StatusLastWasCommand;
        if (_timeout) status |= StatusTimeout;
        return status;
    }

    private byte ReadData()
    {
        // Reading an empty buffer returns the stale byte, as the chip does.
        _outputFull = false;
        _timeout = false;
        return _outputBuffer;
    }

    private void PutOutput(byte value, bool fromAux = false, bool timeout = false)
    {
        _outputBuffer = value;
        _outputFull = true;
        _outputFromAux = fromAux;
        _timeout = timeout;
    }

    private byte OutputPortValue()
    {
        byte value = (byte)(_outputPort & ~(OutputPortKeyboardFull | OutputPortAuxFull));
        if (_outputFull) value |= _outputFromAux ? OutputPortAuxFull : OutputPortKeyboardFull;
        return value;
    }

    /// <returns>Whether the write pulsed the reset line.</returns>
    private bool WriteCommand(byte command)
    {
        _lastWriteWasCommand = true;
        _pendingCommand = 0;
        switch (command)
        {
            case >= ReadRamFirst and <= ReadRamLast:
                PutOutput(_ram[command - ReadRamFirst]);
                break;
            case >= WriteRamFirst and <= WriteRamLast:
            case WriteOutputPort or WriteKeyboardOutput or WriteAuxOutput or WriteToAux:
                _pendingCommand = command;
                break;
            case DisableAux:
                _ram[0] |= CommandByteAuxDisabled;
                break;
            case EnableAux:
                _ram[0] &= unchecked((byte)~CommandByteAuxDisabled);
                break;
            case TestAux or TestKeyboard:
                // The interface lines are fine; there is just nothing at the other end.
                PutOutput(InterfaceTestPassed);
                break;
            case SelfTest:
                _ram[0] |= CommandByteSystemFlag;
                PutOutput(SelfTestPassed);
                break;
            case DisableKeyboard:
                _ram[0] |= CommandByteKeyboardDisabled;
                break;
            case EnableKeyboard:
                _ram[0] &= unchecked((byte)~CommandByteKeyboardDisabled);
                break;
            case ReadOutputPort:
                PutOutput(OutputPortValue());
                break;
            case >= PulseFirst:
                // 0xF0-0xFF pulse the output-port bits whose command bits are 0; bit 0 is the CPU reset line.
                return (command & OutputPortReset) == 0;
            // Other commands (password, input port, test inputs, vendor extensions) do nothing on this controller.
        }
        return false;
    }

    /// <returns>Whether the write pulsed the reset line.</returns>
    private bool WriteData(byte value)
    {
        _lastWriteWasCommand = false;
        byte command = _pendingCommand;
        _pendingCommand = 0;
        switch (command)
        {
            case >= WriteRamFirst and <= WriteRamLast:
                _ram[command - WriteRamFirst] = value;
                break;
            case WriteOutputPort:
                // The reset line is a pulse: the machine resets and the line returns high.
                _outputPort = (byte)(value | OutputPortReset);
                return (value & OutputPortReset) == 0;
            case WriteKeyboardOutput:
                PutOutput(value);
                break;
            case WriteAuxOutput:
                PutOutput(value, fromAux: true);
                break;
            case WriteToAux:
                PutOutput(DeviceTimeoutByte, fromAux: true, timeout: true);     // no mouse answers
                break;
            default:
                // Sending to the keyboard enables its interface again (as QEMU's controller does).
                _ram[0] &= unchecked((byte)~CommandByteKeyboardDisabled);
                _keyboard.Receive(value, Translating);
                break;
        }
        return false;
    }

    private void UpdateInterrupts()
    {
        bool keyboard = KeyboardInterruptPending;
        if (keyboard != _keyboardIrqAsserted)
        {
            _keyboardIrqAsserted = keyboard;
            _keyboardIrq?.Set(keyboard);
        }
        bool aux = AuxInterruptPending;
        if (aux != _auxIrqAsserted)
        {
            _auxIrqAsserted = aux;
            _auxIrq?.Set(aux);
        }
    }
}
