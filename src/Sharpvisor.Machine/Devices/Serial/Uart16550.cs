using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;
using Sharpvisor.Machine.Interrupts;

namespace Sharpvisor.Machine.Devices.Serial;

/// <summary>
/// A National Semiconductor 16550A UART as the Linux 8250 driver probes and drives it, on 8 consecutive I/O ports
/// (COM1 is <see cref="Com1Port"/>, IRQ <see cref="Com1Irq"/>).
/// <para>
/// The serial line is infinitely fast: a byte written to THR is handed to the output sink at once, so the transmitter
/// is always empty (LSR.THRE and LSR.TEMT stay set) and the THR-empty interrupt re-arms right after every write.
/// Host input waits in an unbounded-but-capped queue and moves into the 16-byte receive FIFO (1 byte with FIFOs off)
/// as the guest drains it, so it never overruns; only loopback traffic can overrun. With FIFOs on and fewer bytes than
/// the trigger level, IIR reports a character timeout at once, as if the four idle character times had already passed.
/// Bytes travel whole whatever word length LCR selects, so a guest that writes THR without programming LCR (power-on
/// LCR means 5 data bits) still prints.
/// </para>
/// <para>
/// The interrupt is a level: asserted while any enabled condition is pending, whatever MCR.OUT2 says (PC boards gate
/// the IRQ with OUT2, which Linux sets anyway; simple guests that never touch MCR still get interrupts, as on QEMU).
/// The line is only called when the level changes.
/// </para>
/// </summary>
public sealed class Uart16550 : IBusDevice, IStatefulDevice<Uart16550State>
{
    public const ushort Com1Port = 0x3F8;
    public const ushort PortCount = 8;
    public const uint Com1Irq = 4;
    public const int FifoSize = 16;
    public const int DefaultMaxPendingInput = 16 << 20;

    // Register offsets (DLAB selects DLL/DLM at 0 and 1).
    public const int DataRegister = 0, InterruptEnableRegister = 1, InterruptIdentRegister = 2, FifoControlRegister = 2,
        LineControlRegister = 3, ModemControlRegister = 4, LineStatusRegister = 5, ModemStatusRegister = 6, ScratchRegister = 7;

    public const byte IerReceivedData = 0x01, IerTransmitterEmpty = 0x02, IerLineStatus = 0x04, IerModemStatus = 0x08;
    public const byte IirNoInterrupt = 0x01, IirLineStatus = 0x06, IirReceivedData = 0x04, IirCharacterTimeout = 0x0C,
        IirTransmitterEmpty = 0x02, IirModemStatus = 0x00, IirFifosEnabled = 0xC0;
    public const byte FcrEnable = 0x01, FcrClearReceive = 0x02, FcrClearTransmit = 0x04, FcrDmaMode = 0x08, FcrTriggerMask = 0xC0;
    public const byte LcrDivisorLatchAccess = 0x80;
    public const byte McrDtr = 0x01, McrRts = 0x02, McrOut1 = 0x04, McrOut2 = 0x08, McrLoopback = 0x10;
    public const byte LsrDataReady = 0x01, LsrOverrun = 0x02, LsrTransmitterHoldingEmpty = 0x20, LsrTransmitterEmpty = 0x40;
    public const byte MsrDeltaCts = 0x01, MsrDeltaDsr = 0x02, MsrTrailingEdgeRi = 0x04, MsrDeltaDcd = 0x08,
        MsrCts = 0x10, MsrDsr = 0x20, MsrRi = 0x40, MsrDcd = 0x80;

    private const byte IerWritable = 0x0F;      // bits 7:4 are hardwired to 0 on a 16550A; Linux's probe checks that
    private const byte McrWritable = 0x1F;
    private const byte FcrKept = FcrEnable | FcrDmaMode | FcrTriggerMask;
    private const byte MsrDeltaMask = 0x0F;
    // What a host terminal presents outside loopback: present (DSR), carrier (DCD), clear to send (CTS), no ring.
    private const byte HostModemLines = MsrCts | MsrDsr | MsrDcd;
    private const byte PowerOnDivisorLow = 0x0C;  // 9600 baud, the usual value left by PC firmware

    private readonly Lock _lock = new();
    private readonly Action<byte> _output;
    private readonly InterruptLine _irq;
    private readonly ByteRing _receiveFifo = new(FifoSize, FifoSize);
    private readonly ByteRing _pendingInput;

    private byte _ier, _lcr, _mcr, _scr, _dll = PowerOnDivisorLow, _dlm, _fcr;
    private byte _msrLines = HostModemLines, _msrDeltas;
    private byte _lastReceived;
    private bool _overrun;
    private bool _thrInterruptPending;
    private bool _irqAsserted;

    /// <param name="output">
    /// Receives each transmitted byte, in order, on the vCPU thread that wrote THR, while the UART's lock is held (which
    /// keeps bytes from several vCPUs in order); it should be quick, buffering if the host side is slow.
    /// </param>
    /// <param name="irq">The UART's interrupt line (GSI 4 for COM1).</param>
    /// <param name="maxPendingInput">How many host input bytes may wait for the guest before <see cref="EnqueueInput"/> refuses more.</param>
    public Uart16550(Action<byte> output, InterruptLine irq, int maxPendingInput = DefaultMaxPendingInput)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(irq);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPendingInput, 1);
        _output = output;
        _irq = irq;
        _pendingInput = new ByteRing(Math.Min(4096, maxPendingInput), maxPendingInput);
    }

    /// <summary>Whether the guest wants an interrupt for received data (IER.ERBFI): a host can hold input back until then.</summary>
    public bool ReceiveInterruptEnabled => (Volatile.Read(ref _ier) & IerReceivedData) != 0;

    /// <summary>Host input bytes still waiting to enter the receive FIFO.</summary>
    public int PendingInputCount
    {
        get { lock (_lock) return _pendingInput.Count; }
    }

    /// <summary>
    /// Queues bytes typed or piped on the host for the guest; callable from any thread. Returns how many were accepted,
    /// which is fewer than offered only when the pending-input cap is reached (the caller should retry later).
    /// </summary>
    public int EnqueueInput(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            int accepted = _pendingInput.Enqueue(bytes);
            RefillReceiveFifo();
            UpdateInterrupt();
            return accepted;
        }
    }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            // A wider access is split into byte accesses at consecutive ports, as an ISA bus does.
            for (int i = 0; i < data.Length; i++)
                data[i] = offset + (ulong)i < PortCount ? ReadRegister((int)offset + i) : (byte)0xFF;
            UpdateInterrupt();
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            for (int i = 0; i < data.Length; i++)
                if (offset + (ulong)i < PortCount)
                    WriteRegister((int)offset + i, data[i]);
            UpdateInterrupt();
        }
    }

    /// <summary>"com1" unless set: a machine with a second UART names it.</summary>
    public string StateKey { get; init; } = "com1";

    public Uart16550State SaveState()
    {
        lock (_lock)
            return new Uart16550State
            {
                InterruptEnable = _ier,
                LineControl = _lcr,
                ModemControl = _mcr,
                Scratch = _scr,
                DivisorLatchLow = _dll,
                DivisorLatchHigh = _dlm,
                FifoControl = _fcr,
                Overrun = _overrun,
                TransmitterEmptyInterruptPending = _thrInterruptPending,
                ModemStatusDeltas = _msrDeltas,
                LastReceived = _lastReceived,
                ReceiveFifo = _receiveFifo.ToArray(),
                PendingInput = _pendingInput.ToArray(),
            };
    }

    /// <summary>Loads <paramref name="state"/> and drives the interrupt line once so the controller agrees with it.</summary>
    public void RestoreState(Uart16550State state)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (_lock)
        {
            _ier = (byte)(state.InterruptEnable & IerWritable);
            _lcr = state.LineControl;
            _mcr = (byte)(state.ModemControl & McrWritable);
            _scr = state.Scratch;
            _dll = state.DivisorLatchLow;
            _dlm = state.DivisorLatchHigh;
            _fcr = (state.FifoControl & FcrEnable) != 0 ? (byte)(state.FifoControl & FcrKept) : (byte)0;
            _overrun = state.Overrun;
            _thrInterruptPending = state.TransmitterEmptyInterruptPending;
            _msrLines = ModemLinesFor(_mcr);
            _msrDeltas = (byte)(state.ModemStatusDeltas & MsrDeltaMask);
            _lastReceived = state.LastReceived;
            _receiveFifo.Clear();
            _receiveFifo.Enqueue(state.ReceiveFifo.AsSpan(0, Math.Min(state.ReceiveFifo.Length, ReceiveCapacity)));
            _pendingInput.Clear();
            _pendingInput.Enqueue(state.PendingInput);
            RefillReceiveFifo();
            _irqAsserted = CurrentInterrupt() != IirNoInterrupt;
            _irq.Set(_irqAsserted);
        }
    }

    private bool DivisorLatchAccess => (_lcr & LcrDivisorLatchAccess) != 0;
    private bool FifosEnabled => (_fcr & FcrEnable) != 0;
    private bool Loopback => (_mcr & McrLoopback) != 0;
    private int ReceiveCapacity => FifosEnabled ? FifoSize : 1;

    private int TriggerLevel => (_fcr >> 6) switch
    {
        0 => 1,
        1 => 4,
        2 => 8,
        _ => 14,
    };

    private byte ReadRegister(int register)
    {
        switch (register)
        {
            case DataRegister:
                return DivisorLatchAccess ? _dll : ReadReceiveBuffer();
            case InterruptEnableRegister:
                return DivisorLatchAccess ? _dlm : _ier;
            case InterruptIdentRegister:
                byte id = CurrentInterrupt();
                // Reading IIR acknowledges a THR-empty interrupt, but only when that is what it reports.
                if (id == IirTransmitterEmpty) _thrInterruptPending = false;
                return (byte)(id | (FifosEnabled ? IirFifosEnabled : 0));
            case LineControlRegister:
                return _lcr;
            case ModemControlRegister:
                return _mcr;
            case LineStatusRegister:
                byte lsr = LsrTransmitterHoldingEmpty | LsrTransmitterEmpty;
                if (_receiveFifo.Count > 0) lsr |= LsrDataReady;
                if (_overrun) lsr |= LsrOverrun;
                _overrun = false;
                return lsr;
            case ModemStatusRegister:
                byte msr = (byte)(_msrLines | _msrDeltas);
                _msrDeltas = 0;
                return msr;
            default:
                return _scr;
        }
    }

    private void WriteRegister(int register, byte value)
    {
        switch (register)
        {
            case DataRegister:
                if (DivisorLatchAccess) _dll = value;
                else Transmit(value);
                break;
            case InterruptEnableRegister:
                if (DivisorLatchAccess) _dlm = value;
                else WriteInterruptEnable(value);
                break;
            case FifoControlRegister:
                WriteFifoControl(value);
                break;
            case LineControlRegister:
                _lcr = value;
                break;
            case ModemControlRegister:
                WriteModemControl(value);
                break;
            case ScratchRegister:
                _scr = value;
                break;
            // LSR and MSR are status registers; writes to them (a factory test feature) are ignored.
        }
    }

    private byte ReadReceiveBuffer()
    {
        if (_receiveFifo.TryDequeue(out byte value))
        {
            _lastReceived = value;
            RefillReceiveFifo();
        }
        return _lastReceived;
    }

    private void Transmit(byte value)
    {
        if (Loopback) ReceiveLoopedBack(value);
        else _output(value);
        // The byte left THR at once, so THR is empty again and the THR-empty interrupt is due again.
        _thrInterruptPending = true;
    }

    private void ReceiveLoopedBack(byte value)
    {
        if (_receiveFifo.Count < ReceiveCapacity)
        {
            _receiveFifo.TryEnqueue(value);
            return;
        }
        _overrun = true;
        if (!FifosEnabled)
        {
            // Without FIFOs the new character overwrites the unread one in RBR.
            _receiveFifo.Clear();
            _receiveFifo.TryEnqueue(value);
        }
        // With FIFOs the character in the shift register is lost and the FIFO keeps its contents.
    }

    private void WriteInterruptEnable(byte value)
    {
        value &= IerWritable;
        bool enablingThrInterrupt = (value & ~_ier & IerTransmitterEmpty) != 0;
        _ier = value;
        // Enabling ETBEI while THR is empty (it always is here) raises the THR-empty interrupt; Linux's startup test
        // toggles IER to check exactly this.
        if (enablingThrInterrupt) _thrInterruptPending = true;
    }

    private void WriteFifoControl(byte value)
    {
        bool enable = (value & FcrEnable) != 0;
        // Switching between FIFO and 16450 mode empties the FIFOs.
        if (enable != FifosEnabled) _receiveFifo.Clear();
        if (enable)
        {
            if ((value & FcrClearReceive) != 0) _receiveFifo.Clear();
            // FcrClearTransmit needs no action: the transmit FIFO is always empty.
            _fcr = (byte)(value & FcrKept);
        }
        else
        {
            // With FCR0 clear the other bits are not programmed.
            _fcr = 0;
        }
        RefillReceiveFifo();
    }

    private void WriteModemControl(byte value)
    {
        bool wasLoopback = Loopback;
        _mcr = (byte)(value & McrWritable);
        byte lines = ModemLinesFor(_mcr);
        byte changed = (byte)(lines ^ _msrLines);
        if ((changed & MsrCts) != 0) _msrDeltas |= MsrDeltaCts;
        if ((changed & MsrDsr) != 0) _msrDeltas |= MsrDeltaDsr;
        if ((changed & MsrDcd) != 0) _msrDeltas |= MsrDeltaDcd;
        if ((_msrLines & ~lines & MsrRi) != 0) _msrDeltas |= MsrTrailingEdgeRi;
        _msrLines = lines;
        // Leaving loopback reconnects the receiver to the host line.
        if (wasLoopback && !Loopback) RefillReceiveFifo();
    }

    /// <summary>In loopback the modem outputs feed the inputs: RTS to CTS, DTR to DSR, OUT1 to RI, OUT2 to DCD.</summary>
    private static byte ModemLinesFor(byte mcr)
    {
        if ((mcr & McrLoopback) == 0) return HostModemLines;
        byte lines = 0;
        if ((mcr & McrRts) != 0) lines |= MsrCts;
        if ((mcr & McrDtr) != 0) lines |= MsrDsr;
        if ((mcr & McrOut1) != 0) lines |= MsrRi;
        if ((mcr & McrOut2) != 0) lines |= MsrDcd;
        return lines;
    }

    /// <summary>Moves host input into the receive FIFO while it has room; in loopback the receiver hears only the transmitter.</summary>
    private void RefillReceiveFifo()
    {
        if (Loopback) return;
        while (_receiveFifo.Count < ReceiveCapacity && _pendingInput.TryDequeue(out byte value))
            _receiveFifo.TryEnqueue(value);
    }

    /// <summary>The highest-priority enabled pending condition, as IIR bits 3:0.</summary>
    private byte CurrentInterrupt()
    {
        if ((_ier & IerLineStatus) != 0 && _overrun) return IirLineStatus;
        if ((_ier & IerReceivedData) != 0 && _receiveFifo.Count > 0)
            return !FifosEnabled || _receiveFifo.Count >= TriggerLevel ? IirReceivedData : IirCharacterTimeout;
        if ((_ier & IerTransmitterEmpty) != 0 && _thrInterruptPending) return IirTransmitterEmpty;
        if ((_ier & IerModemStatus) != 0 && _msrDeltas != 0) return IirModemStatus;
        return IirNoInterrupt;
    }

    private void UpdateInterrupt()
    {
        bool pending = CurrentInterrupt() != IirNoInterrupt;
        if (pending == _irqAsserted) return;
        _irqAsserted = pending;
        _irq.Set(pending);
    }
}
