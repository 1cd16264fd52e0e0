namespace Sharpvisor.Machine.Devices.Input;

/// <summary>
/// A PS/2 keyboard on the i8042's first port: it answers the commands Linux's atkbd sends (reset, identify, LEDs,
/// typematic rate, scan code set, enable and disable scanning, echo) and queues what it sends, acknowledgements and
/// key strokes alike, for the controller to move into its output buffer one byte at a time. An unknown command is
/// answered with 0xFE (resend), as a keyboard does. Not thread-safe: the controller calls it under its own lock.
/// </summary>
public sealed class Ps2Keyboard
{
    public const int QueueCapacity = 16;                 // a keyboard's own buffer; what does not fit is lost
    public const byte Ack = 0xFA, ResendReply = 0xFE, SelfTestPassed = 0xAA, EchoReply = 0xEE, IdFirst = 0xAB,
        IdSecond = 0x83, IdSecondTranslated = 0x41;
    public const byte SetLeds = 0xED, Echo = 0xEE, SelectScanCodeSet = 0xF0, Identify = 0xF2, SetTypematic = 0xF3,
        EnableScanning = 0xF4, DisableScanning = 0xF5, SetDefaults = 0xF6, Reset = 0xFF;
    public const byte DefaultScanCodeSet = 2;

    // What the controller hands the host for the scan code set number when it translates (its set 2 -> set 1 table).
    private static readonly byte[] TranslatedSetNumber = [0x00, 0x43, 0x41, 0x3F];

    private readonly Queue<byte> _queue = new(QueueCapacity);
    private bool _scanning = true;
    private byte _scanCodeSet = DefaultScanCodeSet;
    private byte _pendingCommand;

    public bool HasOutput => _queue.Count > 0;

    public byte TakeOutput() => _queue.Dequeue();

    /// <summary>A byte the host wrote to the keyboard; <paramref name="translated"/>: the controller translates to set 1.</summary>
    public void Receive(byte value, bool translated)
    {
        // A parameter is below 0x80; anything else while one is awaited is a new command, as on a real keyboard.
        if (_pendingCommand != 0 && value < 0x80)
        {
            ReceiveParameter(value, translated);
            return;
        }
        _pendingCommand = 0;
        switch (value)
        {
            case SetLeds or SetTypematic or SelectScanCodeSet:
                _pendingCommand = value;
                Send(Ack);
                break;
            case Echo:
                Send(EchoReply);
                break;
            case Identify:
                Send(Ack);
                Send(IdFirst);
                Send(translated ? IdSecondTranslated : IdSecond);
                break;
            case EnableScanning:
                _scanning = true;
                Send(Ack);
                break;
            case DisableScanning:
                // Also back to the defaults, as the command is specified.
                _scanCodeSet = DefaultScanCodeSet;
                _scanning = false;
                Send(Ack);
                break;
            case SetDefaults:
                _scanCodeSet = DefaultScanCodeSet;
                Send(Ack);
                break;
            case Reset:
                _queue.Clear();
                _scanCodeSet = DefaultScanCodeSet;
                _scanning = true;
                Send(Ack);
                Send(SelfTestPassed);
                break;
            default:
                Send(ResendReply);
                break;
        }
    }

    private void ReceiveParameter(byte value, bool translated)
    {
        byte command = _pendingCommand;
        _pendingCommand = 0;
        if (command == SelectScanCodeSet)
        {
            if (value == 0)
            {
                Send(Ack);
                Send(translated ? TranslatedSetNumber[_scanCodeSet] : _scanCodeSet);
                return;
            }
            if (value > 3)
            {
                Send(ResendReply);
                return;
            }
            _scanCodeSet = value;
        }
        // The LEDs and the typematic rate change nothing a guest can observe here.
        Send(Ack);
    }

    /// <summary>
    /// Presses <paramref name="keys"/> in order and releases them in reverse, as a person types a chord. Returns false,
    /// sending nothing, when scanning is off or the keyboard's buffer lacks room for the whole chord.
    /// </summary>
    public bool TypeChord(ReadOnlySpan<Ps2Key> keys, bool translated)
    {
        // The controller's translation turns set 2 into set 1; this keyboard sends set 1 to the host whenever it is on.
        int set = translated ? 1 : _scanCodeSet;
        Span<byte> bytes = stackalloc byte[keys.Length * 2 * 3];
        int n = 0;
        foreach (var key in keys) n += key.Encode(set, release: false, bytes[n..]);
        for (int i = keys.Length - 1; i >= 0; i--) n += keys[i].Encode(set, release: true, bytes[n..]);
        if (!_scanning || _queue.Count + n > QueueCapacity) return false;
        foreach (byte b in bytes[..n]) _queue.Enqueue(b);
        return true;
    }

    private void Send(byte value)
    {
        if (_queue.Count < QueueCapacity) _queue.Enqueue(value);
    }

    public Ps2KeyboardState SaveState() => new()
    {
        Queue = _queue.ToArray(),
        Scanning = _scanning,
        ScanCodeSet = _scanCodeSet,
        PendingCommand = _pendingCommand,
    };

    public void RestoreState(Ps2KeyboardState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Queue is null || state.Queue.Length > QueueCapacity)
            throw new ArgumentException($"a PS/2 keyboard queue holds at most {QueueCapacity} bytes", nameof(state));
        if (state.ScanCodeSet is < 1 or > 3)
            throw new ArgumentException($"scan code set {state.ScanCodeSet} is not 1, 2 or 3", nameof(state));
        _queue.Clear();
        foreach (byte b in state.Queue) _queue.Enqueue(b);
        _scanning = state.Scanning;
        _scanCodeSet = state.ScanCodeSet;
        _pendingCommand = state.PendingCommand;
    }
}
