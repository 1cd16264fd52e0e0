using Sharpvisor.Machine.Devices.Serial;
using Sharpvisor.Machine.Interrupts;

namespace Sharpvisor.Machine.Tests.Devices.Serial;

public sealed class Uart16550Tests
{
    private const uint Gsi = Uart16550.Com1Irq;
    private const int Rbr = 0, Thr = 0, Dll = 0, Ier = 1, Dlm = 1, Iir = 2, Fcr = 2, Lcr = 3, Mcr = 4, Lsr = 5, Msr = 6, Scr = 7;

    private readonly RecordingInterruptController _pic = new();
    private readonly List<byte> _sent = [];
    private readonly Uart16550 _uart;

    public Uart16550Tests() => _uart = new Uart16550(_sent.Add, new InterruptLine(_pic, Gsi));

    private byte In(int register)
    {
        Span<byte> b = stackalloc byte[1];
        _uart.Read((ulong)register, b);
        return b[0];
    }

    private void Out(int register, byte value) => _uart.Write((ulong)register, [value]);

    private void Enqueue(string text) => _uart.EnqueueInput(text.Select(c => (byte)c).ToArray());

    [Fact]
    public void PowerOnRegistersReadAsAnIdle16550A()
    {
        Assert.Equal(0x00, In(Ier));
        Assert.Equal(Uart16550.IirNoInterrupt, In(Iir));
        Assert.Equal(0x00, In(Lcr));
        Assert.Equal(0x00, In(Mcr));
        Assert.Equal(Uart16550.LsrTransmitterHoldingEmpty | Uart16550.LsrTransmitterEmpty, In(Lsr));
        Assert.Equal(Uart16550.MsrCts | Uart16550.MsrDsr | Uart16550.MsrDcd, In(Msr));
        Assert.Empty(_pic.LevelChanges);
    }

    [Fact]
    public void ScratchRegisterKeepsWhatIsWritten()
    {
        foreach (byte v in new byte[] { 0x55, 0xAA, 0x00, 0xFF })
        {
            Out(Scr, v);
            Assert.Equal(v, In(Scr));
        }
    }

    [Fact]
    public void InterruptEnableKeepsOnlyTheLowFourBits()
    {
        Out(Ier, 0x00);
        Assert.Equal(0x00, In(Ier));
        Out(Ier, 0x0F);
        Assert.Equal(0x0F, In(Ier));
        Out(Ier, 0xF5);
        Assert.Equal(0x05, In(Ier));
    }

    [Fact]
    public void LoopbackReflectsModemOutputsIntoModemStatus()
    {
        Out(Mcr, Uart16550.McrLoopback | Uart16550.McrOut2 | Uart16550.McrRts);
        Assert.Equal(0x90, In(Msr) & 0xF0);
        Out(Mcr, Uart16550.McrLoopback | Uart16550.McrDtr | Uart16550.McrOut1);
        Assert.Equal(Uart16550.MsrDsr | Uart16550.MsrRi, In(Msr) & 0xF0);
        Out(Mcr, Uart16550.McrLoopback);
        Assert.Equal(0x00, In(Msr) & 0xF0);
        Out(Mcr, 0);
        Assert.Equal(Uart16550.MsrCts | Uart16550.MsrDsr | Uart16550.MsrDcd, In(Msr) & 0xF0);
    }

    [Fact]
    public void ModemStatusDeltasTrackChangesAndClearOnRead()
    {
        // Host lines are CTS|DSR|DCD; loopback with only RTS keeps CTS and drops DSR and DCD.
        Out(Mcr, Uart16550.McrLoopback | Uart16550.McrRts);
        Assert.Equal(Uart16550.MsrCts | Uart16550.MsrDeltaDsr | Uart16550.MsrDeltaDcd, In(Msr));
        Assert.Equal(Uart16550.MsrCts, In(Msr));
        // RI rising sets no delta; RI falling sets TERI.
        Out(Mcr, Uart16550.McrLoopback | Uart16550.McrRts | Uart16550.McrOut1);
        Assert.Equal(Uart16550.MsrCts | Uart16550.MsrRi, In(Msr));
        Out(Mcr, Uart16550.McrLoopback | Uart16550.McrRts);
        Assert.Equal(Uart16550.MsrCts | Uart16550.MsrTrailingEdgeRi, In(Msr));
    }

    [Fact]
    public void FifoEnableShowsInIdentificationBits()
    {
        Out(Fcr, Uart16550.FcrEnable);
        Assert.Equal(3, In(Iir) >> 6);
        Out(Fcr, 0xC7);
        Assert.Equal(0xC1, In(Iir));
        // A 16550A has no 64-byte mode: FCR bit 5 does not show up as IIR bit 5.
        Out(Fcr, Uart16550.FcrEnable | 0x20);
        Assert.Equal(0xC0, In(Iir) & 0xE0);
        Out(Fcr, 0);
        Assert.Equal(Uart16550.IirNoInterrupt, In(Iir));
    }

    [Fact]
    public void Linux8250AutoconfigSequenceFindsA16550A()
    {
        // IER test.
        byte saved = In(Ier);
        Out(Ier, 0);
        byte scratch2 = (byte)(In(Ier) & 0x0F);
        Out(Ier, 0x0F);
        byte scratch3 = (byte)(In(Ier) & 0x0F);
        Out(Ier, saved);
        Assert.Equal((0, 0x0F), (scratch2, scratch3));
        // Loopback test.
        byte savedMcr = In(Mcr), savedLcr = In(Lcr);
        Out(Mcr, Uart16550.McrLoopback | 0x0A);
        Assert.Equal(0x90, In(Msr) & 0xF0);
        Out(Mcr, savedMcr);
        // FIFO type probe.
        Out(Lcr, 0xBF);
        Out(Fcr, 0);                            // EFR on chips that have one, FCR here
        Out(Lcr, 0);
        Out(Fcr, Uart16550.FcrEnable);
        Assert.Equal(3, In(Iir) >> 6);
        // No EFR behind DLAB or 0xBF: offset 2 reads IIR, which is never 0 with FIFOs on.
        Out(Lcr, 0x80);
        Assert.NotEqual(0, In(Iir));
        Out(Lcr, 0xBF);
        Assert.NotEqual(0, In(Iir));
        // No 16750: IIR bit 5 stays clear with or without DLAB.
        Out(Lcr, 0);
        Out(Fcr, Uart16550.FcrEnable | 0x20);
        byte status1 = (byte)(In(Iir) & 0xE0);
        Out(Fcr, 0);
        Out(Lcr, 0x80);
        Out(Fcr, Uart16550.FcrEnable | 0x20);
        byte status2 = (byte)(In(Iir) & 0xE0);
        Out(Fcr, 0);
        Out(Lcr, savedLcr);
        Assert.Equal((0xC0, 0xC0), (status1, status2));
        // No XScale UUE bit.
        Out(Ier, 0x40);
        Assert.Equal(0, In(Ier) & 0x40);
    }

    [Fact]
    public void DivisorLatchSharesOffsetsZeroAndOneUnderDlab()
    {
        Out(Ier, 0x05);
        Out(Lcr, Uart16550.LcrDivisorLatchAccess | 0x03);
        Assert.Equal(0x0C, In(Dll));            // 9600 baud at power-on
        Out(Dll, 0x01);
        Out(Dlm, 0x02);
        Assert.Equal(0x01, In(Dll));
        Assert.Equal(0x02, In(Dlm));
        Assert.Empty(_sent);
        Out(Lcr, 0x03);
        Assert.Equal(0x05, In(Ier));
        Out(Lcr, Uart16550.LcrDivisorLatchAccess);
        Assert.Equal(0x02, In(Dlm));
    }

    [Fact]
    public void TransmittedBytesReachTheSinkInOrder()
    {
        Out(Lcr, 0x03);
        foreach (char c in "hi!\n") Out(Thr, (byte)c);
        Assert.Equal("hi!\n"u8.ToArray(), _sent.ToArray());
        Assert.Equal(0x60, In(Lsr) & 0x60);
    }

    [Fact]
    public void BytesTravelWholeWhateverTheWordLength()
    {
        Out(Thr, 0xE9);                          // LCR is 0 (5 data bits) at power-on
        Assert.Equal([0xE9], _sent);
    }

    [Fact]
    public void LoopbackSendsTransmittedBytesToTheReceiverNotTheSink()
    {
        Out(Mcr, Uart16550.McrLoopback);
        Out(Thr, 0x41);
        Assert.Empty(_sent);
        Assert.Equal(Uart16550.LsrDataReady, In(Lsr) & Uart16550.LsrDataReady);
        Assert.Equal(0x41, In(Rbr));
        Assert.Equal(0, In(Lsr) & Uart16550.LsrDataReady);
    }

    [Fact]
    public void LoopbackOverrunWithFifosKeepsTheFifoAndFlagsOverrun()
    {
        Out(Fcr, Uart16550.FcrEnable);
        Out(Mcr, Uart16550.McrLoopback);
        for (int i = 0; i < Uart16550.FifoSize + 1; i++) Out(Thr, (byte)i);
        byte lsr = In(Lsr);
        Assert.Equal(Uart16550.LsrOverrun | Uart16550.LsrDataReady, lsr & 0x03);
        Assert.Equal(0, In(Lsr) & Uart16550.LsrOverrun);    // reading LSR clears OE
        for (int i = 0; i < Uart16550.FifoSize; i++) Assert.Equal(i, In(Rbr));
        Assert.Equal(0, In(Lsr) & Uart16550.LsrDataReady);
    }

    [Fact]
    public void LoopbackOverrunWithoutFifosOverwritesTheHeldByte()
    {
        Out(Mcr, Uart16550.McrLoopback);
        Out(Thr, 1);
        Out(Thr, 2);
        Assert.Equal(Uart16550.LsrOverrun | Uart16550.LsrDataReady, In(Lsr) & 0x03);
        Assert.Equal(2, In(Rbr));
        Assert.Equal(0, In(Lsr) & Uart16550.LsrDataReady);
        Assert.Equal(2, In(Rbr));                            // an empty RBR still holds the last byte
    }

    [Fact]
    public void LineStatusInterruptHasTopPriorityAndClearsWhenLsrIsRead()
    {
        Out(Mcr, Uart16550.McrLoopback);
        Out(Thr, 1);
        Out(Thr, 2);                                         // overrun
        Out(Ier, Uart16550.IerLineStatus | Uart16550.IerReceivedData | Uart16550.IerTransmitterEmpty);
        Assert.True(_pic.IsAsserted(Gsi));
        Assert.Equal(Uart16550.IirLineStatus, In(Iir));
        In(Lsr);
        Assert.Equal(Uart16550.IirReceivedData, In(Iir));
        In(Rbr);
        Assert.Equal(Uart16550.IirTransmitterEmpty, In(Iir));
        Assert.Equal(Uart16550.IirNoInterrupt, In(Iir));
        Assert.False(_pic.IsAsserted(Gsi));
        Assert.Equal([true, false], _pic.Levels(Gsi));
    }

    [Fact]
    public void ThrEmptyInterruptFollowsLinuxStartupTest()
    {
        // Linux enables THRI, reads IIR, disables, enables again and reads IIR again: a real 16550 reports THRE twice.
        Out(Ier, Uart16550.IerTransmitterEmpty);
        Assert.True(_pic.IsAsserted(Gsi));
        Assert.Equal(Uart16550.IirTransmitterEmpty, In(Iir));
        Assert.False(_pic.IsAsserted(Gsi));
        Out(Ier, 0);
        Out(Ier, Uart16550.IerTransmitterEmpty);
        Assert.Equal(Uart16550.IirTransmitterEmpty, In(Iir));
        Out(Ier, 0);
        Assert.Equal([true, false, true, false], _pic.Levels(Gsi));
    }

    [Fact]
    public void WritingThrRearmsTheThrEmptyInterrupt()
    {
        Out(Ier, Uart16550.IerTransmitterEmpty);
        Assert.Equal(Uart16550.IirTransmitterEmpty, In(Iir));   // acknowledged
        Assert.Equal(Uart16550.IirNoInterrupt, In(Iir));
        Out(Thr, (byte)'x');
        Assert.True(_pic.IsAsserted(Gsi));
        Assert.Equal(Uart16550.IirTransmitterEmpty, In(Iir));
        Assert.False(_pic.IsAsserted(Gsi));
    }

    [Fact]
    public void EnablingThrInterruptTwiceInARowDoesNotRearmIt()
    {
        Out(Ier, Uart16550.IerTransmitterEmpty);
        In(Iir);
        Out(Ier, Uart16550.IerTransmitterEmpty | Uart16550.IerModemStatus);
        Assert.Equal(Uart16550.IirNoInterrupt, In(Iir));
    }

    [Fact]
    public void ReadingIirDoesNotAcknowledgeThrEmptyWhileHigherPriorityIsReported()
    {
        Enqueue("a");
        Out(Ier, Uart16550.IerReceivedData | Uart16550.IerTransmitterEmpty);
        Assert.Equal(Uart16550.IirReceivedData, In(Iir));
        Assert.Equal(Uart16550.IirReceivedData, In(Iir));
        Assert.Equal((byte)'a', In(Rbr));
        Assert.Equal(Uart16550.IirTransmitterEmpty, In(Iir));
        Assert.Equal(Uart16550.IirNoInterrupt, In(Iir));
    }

    [Fact]
    public void ReceivedDataRaisesTheInterruptOnlyWhenEnabled()
    {
        Enqueue("a");
        Assert.Empty(_pic.LevelChanges);
        Assert.False(_uart.ReceiveInterruptEnabled);
        Out(Ier, Uart16550.IerReceivedData);
        Assert.True(_uart.ReceiveInterruptEnabled);
        Assert.True(_pic.IsAsserted(Gsi));
        In(Rbr);
        Assert.False(_pic.IsAsserted(Gsi));
        Enqueue("b");
        Assert.True(_pic.IsAsserted(Gsi));
        Assert.Equal([true, false, true], _pic.Levels(Gsi));
    }

    [Fact]
    public void TriggerLevelChoosesBetweenDataAvailableAndCharacterTimeout()
    {
        Out(Fcr, 0xC1);                                      // FIFOs on, trigger at 14 bytes
        Out(Ier, Uart16550.IerReceivedData);
        Enqueue("abc");
        Assert.Equal(0xC0 | Uart16550.IirCharacterTimeout, In(Iir));
        Enqueue("defghijklmn");                              // 14 bytes now
        Assert.Equal(0xC0 | Uart16550.IirReceivedData, In(Iir));
        In(Rbr);
        Assert.Equal(0xC0 | Uart16550.IirCharacterTimeout, In(Iir));

        Out(Fcr, 0x41 | Uart16550.FcrClearReceive);          // trigger at 4, receive FIFO emptied
        Assert.Equal(0xC0 | Uart16550.IirNoInterrupt, In(Iir));
        Enqueue("wxyz");
        Assert.Equal(0xC0 | Uart16550.IirReceivedData, In(Iir));
    }

    [Theory]
    [InlineData(0x01, 1)]
    [InlineData(0x41, 4)]
    [InlineData(0x81, 8)]
    [InlineData(0xC1, 14)]
    public void EachTriggerLevelIsHonoured(byte fcr, int level)
    {
        Out(Fcr, fcr);
        Out(Ier, Uart16550.IerReceivedData);
        _uart.EnqueueInput(new byte[level - 1]);
        if (level > 1) Assert.Equal(0xC0 | Uart16550.IirCharacterTimeout, In(Iir));
        _uart.EnqueueInput(new byte[1]);
        Assert.Equal(0xC0 | Uart16550.IirReceivedData, In(Iir));
    }

    [Fact]
    public void HostInputLargerThanTheFifoArrivesCompleteAndInOrder()
    {
        Out(Fcr, Uart16550.FcrEnable);
        var input = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        Assert.Equal(input.Length, _uart.EnqueueInput(input));
        Assert.Equal(input.Length - Uart16550.FifoSize, _uart.PendingInputCount);
        var received = new List<byte>();
        while ((In(Lsr) & Uart16550.LsrDataReady) != 0) received.Add(In(Rbr));
        Assert.Equal(input, received.ToArray());
        Assert.Equal(0, _uart.PendingInputCount);
        Assert.Equal(0, In(Lsr) & Uart16550.LsrOverrun);
    }

    [Fact]
    public void PendingInputIsCappedAndTheCallerToldHowMuchWasTaken()
    {
        var uart = new Uart16550(_ => { }, new InterruptLine(_pic, Gsi), maxPendingInput: 10);
        Assert.Equal(10, uart.EnqueueInput(new byte[40]));
        // One byte moved into RBR (FIFOs are off), which frees one place in the queue.
        Assert.Equal(9, uart.PendingInputCount);
        Assert.Equal(1, uart.EnqueueInput(new byte[5]));
    }

    [Fact]
    public void HostInputWaitsWhileInLoopback()
    {
        Out(Mcr, Uart16550.McrLoopback);
        Enqueue("q");
        Assert.Equal(0, In(Lsr) & Uart16550.LsrDataReady);
        Out(Mcr, 0);
        Assert.Equal(Uart16550.LsrDataReady, In(Lsr) & Uart16550.LsrDataReady);
        Assert.Equal((byte)'q', In(Rbr));
    }

    [Fact]
    public void ToggleOfFifoModeEmptiesTheReceiver()
    {
        Out(Fcr, Uart16550.FcrEnable);
        Out(Mcr, Uart16550.McrLoopback);
        Out(Thr, 1);
        Out(Thr, 2);
        Out(Fcr, 0);
        Assert.Equal(0, In(Lsr) & Uart16550.LsrDataReady);
    }

    [Fact]
    public void ModemStatusInterruptIsLowestPriorityAndClearedByReadingMsr()
    {
        Out(Ier, Uart16550.IerModemStatus);
        Assert.False(_pic.IsAsserted(Gsi));
        Out(Mcr, Uart16550.McrLoopback | Uart16550.McrRts | Uart16550.McrDtr | Uart16550.McrOut2);  // lines unchanged
        Assert.False(_pic.IsAsserted(Gsi));
        Out(Mcr, Uart16550.McrLoopback | Uart16550.McrRts);  // DSR and DCD drop
        Assert.True(_pic.IsAsserted(Gsi));
        Assert.Equal(Uart16550.IirModemStatus, In(Iir));
        Assert.True(_pic.IsAsserted(Gsi));                   // reading IIR does not acknowledge modem status
        In(Msr);
        Assert.False(_pic.IsAsserted(Gsi));
        Assert.Equal(Uart16550.IirNoInterrupt, In(Iir));
    }

    [Fact]
    public void LineIsOnlyDrivenOnChanges()
    {
        Out(Ier, Uart16550.IerReceivedData);
        Enqueue("abc");
        Enqueue("def");
        Out(Scr, 1);
        In(Lsr);
        In(Iir);
        Assert.Equal([true], _pic.Levels(Gsi));
        for (int i = 0; i < 5; i++) In(Rbr);
        Assert.Equal([true], _pic.Levels(Gsi));
        In(Rbr);
        Assert.Equal([true, false], _pic.Levels(Gsi));
    }

    [Fact]
    public void WideAccessIsSplitIntoConsecutivePorts()
    {
        Out(Scr, 0x5A);
        Out(Mcr, Uart16550.McrOut2);
        Span<byte> two = stackalloc byte[2];
        _uart.Read(Mcr, two);
        Assert.Equal(Uart16550.McrOut2, two[0]);
        Assert.Equal(0x60, two[1]);
        Span<byte> past = stackalloc byte[2];
        _uart.Read(Scr, past);
        Assert.Equal(0x5A, past[0]);
        Assert.Equal(0xFF, past[1]);
        _uart.Write(Lcr, [0x03, 0x0B]);
        Assert.Equal(0x03, In(Lcr));
        Assert.Equal(0x0B, In(Mcr));
    }

    [Fact]
    public void ConcurrentHostInputIsNeitherLostNorReordered()
    {
        Out(Fcr, Uart16550.FcrEnable);
        const int total = 20000;
        var writer = new Thread(() =>
        {
            for (int i = 0; i < total; i += 100)
                _uart.EnqueueInput(Enumerable.Range(i, 100).Select(v => (byte)v).ToArray());
        });
        writer.Start();
        var received = new List<byte>(total);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (received.Count < total && DateTime.UtcNow < deadline)
            if ((In(Lsr) & Uart16550.LsrDataReady) != 0) received.Add(In(Rbr));
        writer.Join();
        Assert.Equal(total, received.Count);
        for (int i = 0; i < total; i++) Assert.Equal((byte)i, received[i]);
    }

    [Fact]
    public void SavedStateRestoresIntoAFreshDevice()
    {
        Out(Fcr, 0x81);
        Out(Lcr, 0x80);
        Out(Dll, 0x03);
        Out(Lcr, 0x1B);
        Out(Scr, 0x77);
        Out(Mcr, Uart16550.McrOut2 | Uart16550.McrDtr);
        _uart.EnqueueInput(Enumerable.Range(1, 40).Select(v => (byte)v).ToArray());
        Out(Ier, Uart16550.IerReceivedData);
        Assert.Equal(1, In(Rbr));
        var state = _uart.SaveState();

        var pic = new RecordingInterruptController();
        var copy = new Uart16550(_ => { }, new InterruptLine(pic, Gsi));
        copy.RestoreState(state);
        Assert.Equal([true], pic.Levels(Gsi));
        Assert.Equal(state, copy.SaveState() with { ReceiveFifo = state.ReceiveFifo, PendingInput = state.PendingInput });
        Assert.Equal(state.ReceiveFifo, copy.SaveState().ReceiveFifo);
        Assert.Equal(state.PendingInput, copy.SaveState().PendingInput);
        byte Read(int r) { Span<byte> b = stackalloc byte[1]; copy.Read((ulong)r, b); return b[0]; }
        Assert.Equal(0x1B, Read(Lcr));
        Assert.Equal(0x77, Read(Scr));
        Assert.Equal(0xC0 | Uart16550.IirReceivedData, Read(Iir));   // 16 bytes refilled, trigger 8
        for (int v = 2; v <= 40; v++) Assert.Equal(v, Read(Rbr));
        Assert.False(pic.IsAsserted(Gsi));
    }
}
