using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Input;
using Sharpvisor.Machine.Interrupts;

namespace Sharpvisor.Machine.Tests.Devices.Input;

public sealed class I8042ControllerTests
{
    private readonly RecordingInterruptController _pic = new();
    private int _resets;
    private readonly I8042Controller _kbc;

    public I8042ControllerTests() =>
        _kbc = new I8042Controller(() => _resets++, new InterruptLine(_pic, I8042Controller.KeyboardIrq),
            new InterruptLine(_pic, I8042Controller.AuxIrq));

    private byte Status() => In(I8042Controller.CommandOffset);
    private byte Data() => In(I8042Controller.DataOffset);
    private void Command(byte value) => _kbc.Write(I8042Controller.CommandOffset, [value]);
    private void DataOut(byte value) => _kbc.Write(I8042Controller.DataOffset, [value]);

    private byte In(ulong offset)
    {
        Span<byte> b = stackalloc byte[1];
        _kbc.Read(offset, b);
        return b[0];
    }

    /// <summary>Issues a command and returns its single response byte, failing if none came.</summary>
    private byte Ask(byte command)
    {
        Command(command);
        Assert.Equal(I8042Controller.StatusOutputFull, Status() & I8042Controller.StatusOutputFull);
        return Data();
    }

    [Fact]
    public void PowerOnStateIsWhatFirmwareLeaves()
    {
        Assert.Equal(I8042Controller.StatusKeyboardUnlocked | I8042Controller.StatusSystemFlag, Status());
        Assert.Equal(0x47, Ask(0x20));
        Assert.Equal(0xCF, Ask(I8042Controller.ReadOutputPort));
    }

    [Fact]
    public void CommandByteIsReadAndWritten()
    {
        Command(0x60);
        Assert.Equal(0, Status() & I8042Controller.StatusOutputFull);
        DataOut(0x56);
        Assert.Equal(0x56, Ask(0x20));
        Assert.Equal(0x56, _kbc.CommandByte);
        Assert.Equal(0, Status() & I8042Controller.StatusOutputFull);
    }

    [Fact]
    public void InternalRamBeyondTheCommandByteIsAddressable()
    {
        Command(0x65);
        DataOut(0x3C);
        Assert.Equal(0x3C, Ask(0x25));
        Assert.Equal(0x47, Ask(0x20));
    }

    [Fact]
    public void SelfTestAndInterfaceTestsPass()
    {
        Assert.Equal(0x55, Ask(I8042Controller.SelfTest));
        Assert.Equal(0x00, Ask(I8042Controller.TestKeyboard));
        Assert.Equal(0x00, Ask(I8042Controller.TestAux));
    }

    [Fact]
    public void SelfTestSetsTheSystemFlag()
    {
        Command(0x60);
        DataOut(0x00);
        Assert.Equal(0, Status() & I8042Controller.StatusSystemFlag);
        Ask(I8042Controller.SelfTest);
        Assert.Equal(I8042Controller.StatusSystemFlag, Status() & I8042Controller.StatusSystemFlag);
    }

    [Fact]
    public void PortDisableCommandsSetCommandByteBits()
    {
        Command(I8042Controller.DisableKeyboard);
        Command(I8042Controller.DisableAux);
        Assert.Equal(0x47 | 0x30, Ask(0x20));
        Command(I8042Controller.EnableKeyboard);
        Assert.Equal(0x47 | 0x20, Ask(0x20));
        Command(I8042Controller.EnableAux);
        Assert.Equal(0x47, Ask(0x20));
    }

    [Fact]
    public void StatusBit3TellsWhetherTheLastWriteWasACommand()
    {
        Command(0x60);
        Assert.Equal(I8042Controller.StatusLastWasCommand, Status() & I8042Controller.StatusLastWasCommand);
        DataOut(0x47);
        Assert.Equal(0, Status() & I8042Controller.StatusLastWasCommand);
    }

    [Fact]
    public void ResetPulseCommandRequestsReset()
    {
        Command(0xFF);                                       // pulses no line
        Assert.Equal(0, _resets);
        Command(I8042Controller.ResetPulse);
        Assert.Equal(1, _resets);
    }

    [Fact]
    public void WritingOutputPortWithBit0ClearRequestsReset()
    {
        Command(I8042Controller.WriteOutputPort);
        DataOut(0xCD);                                       // A20 off, reset line high
        Assert.Equal(0, _resets);
        Assert.Equal(0xCD, Ask(I8042Controller.ReadOutputPort));
        Command(I8042Controller.WriteOutputPort);
        DataOut(0xCE);
        Assert.Equal(1, _resets);
        Assert.Equal(0xCF, Ask(I8042Controller.ReadOutputPort));  // the reset line is high again after the pulse
    }

    [Fact]
    public void ResetCallbackRunsOutsideTheControllerLock()
    {
        // The callback lets another thread use the controller and waits for it, which would hang under the lock.
        bool otherThreadGotIn = false;
        I8042Controller? kbc = null;
        kbc = new I8042Controller(() =>
        {
            var t = new Thread(() => { Span<byte> b = stackalloc byte[1]; kbc!.Read(I8042Controller.CommandOffset, b); });
            t.Start();
            otherThreadGotIn = t.Join(TimeSpan.FromSeconds(10));
        });
        kbc.Write(I8042Controller.CommandOffset, [I8042Controller.ResetPulse]);
        Assert.True(otherThreadGotIn);
    }

    [Fact]
    public void BytesForTheKeyboardAreAnsweredByIt()
    {
        DataOut(0xF2);                                       // keyboard GET ID: ACK, then the id (translated: AB 41)
        Assert.Equal(I8042Controller.StatusOutputFull,
            Status() & (I8042Controller.StatusOutputFull | I8042Controller.StatusTimeout | I8042Controller.StatusAuxData));
        Assert.Equal([0xFA, 0xAB, 0x41], new[] { Data(), Data(), Data() });
        Assert.Equal(0, Status() & (I8042Controller.StatusOutputFull | I8042Controller.StatusTimeout));
    }

    [Fact]
    public void BytesForTheAbsentMouseTimeOutOnTheAuxSide()
    {
        Command(I8042Controller.WriteToAux);
        DataOut(0xF2);
        Assert.Equal(I8042Controller.StatusOutputFull | I8042Controller.StatusTimeout | I8042Controller.StatusAuxData,
            Status() & 0x61);
        Assert.Equal(0xFF, Data());
    }

    [Fact]
    public void LoopCommandsEchoThroughTheRightSideAndRaiseItsIrq()
    {
        Command(I8042Controller.WriteAuxOutput);
        DataOut(0x5A);
        Assert.Equal(I8042Controller.StatusOutputFull | I8042Controller.StatusAuxData, Status() & 0x21);
        Assert.True(_pic.IsAsserted(I8042Controller.AuxIrq));
        Assert.False(_pic.IsAsserted(I8042Controller.KeyboardIrq));
        Assert.Equal(0x5A, Data());
        Assert.False(_pic.IsAsserted(I8042Controller.AuxIrq));

        Command(I8042Controller.WriteKeyboardOutput);
        DataOut(0xA5);
        Assert.Equal(I8042Controller.StatusOutputFull, Status() & 0x21);
        Assert.True(_pic.IsAsserted(I8042Controller.KeyboardIrq));
        Assert.Equal(0xA5, Data());
        Assert.False(_pic.IsAsserted(I8042Controller.KeyboardIrq));
        Assert.Equal([true, false], _pic.Levels(I8042Controller.AuxIrq));
        Assert.Equal([true, false], _pic.Levels(I8042Controller.KeyboardIrq));
    }

    [Fact]
    public void CommandByteGatesTheInterrupts()
    {
        Command(0x60);
        DataOut(I8042Controller.CommandByteSystemFlag);      // both interrupts off
        Assert.Equal(I8042Controller.CommandByteSystemFlag, Ask(0x20));
        Command(I8042Controller.WriteAuxOutput);
        DataOut(0x11);
        Assert.Empty(_pic.LevelChanges);
        // Turning the AUX interrupt on while the byte waits raises IRQ 12 (the 0x60 command itself consumes nothing).
        Command(0x60);
        DataOut(I8042Controller.CommandByteSystemFlag | I8042Controller.CommandByteAuxInterrupt);
        Assert.True(_pic.IsAsserted(I8042Controller.AuxIrq));
        Assert.Equal(0x11, Data());
        Assert.False(_pic.IsAsserted(I8042Controller.AuxIrq));
    }

    [Fact]
    public void UnknownCommandsAreIgnored()
    {
        Command(0xC0);
        Command(0x90);
        Assert.Equal(0, Status() & I8042Controller.StatusOutputFull);
        Assert.Equal(0x47, Ask(0x20));
        Assert.Equal(0, _resets);
    }

    [Fact]
    public void LinuxStyleProbeSequenceBehaves()
    {
        // i8042_flush: nothing pending.
        Assert.Equal(0, Status() & I8042Controller.StatusOutputFull);
        Assert.Equal(0x55, Ask(I8042Controller.SelfTest));
        byte ctr = Ask(0x20);
        Assert.Equal(ctr, Ask(0x20));
        ctr = (byte)((ctr | I8042Controller.CommandByteKeyboardDisabled) & ~I8042Controller.CommandByteKeyboardInterrupt);
        Command(0x60);
        DataOut(ctr);
        // i8042_check_aux: AUX loop returns the byte, flagged as AUX data.
        Command(I8042Controller.WriteAuxOutput);
        DataOut(0x5A);
        Assert.Equal(I8042Controller.StatusAuxData, Status() & I8042Controller.StatusAuxData);
        Assert.Equal(0x5A, Data());
        // Disabling and enabling AUX through the command byte sticks.
        Command(0x60);
        DataOut((byte)(ctr | I8042Controller.CommandByteAuxDisabled));
        Assert.Equal(I8042Controller.CommandByteAuxDisabled, Ask(0x20) & I8042Controller.CommandByteAuxDisabled);
        Command(0x60);
        DataOut((byte)(ctr & ~I8042Controller.CommandByteAuxDisabled));
        Assert.Equal(0, Ask(0x20) & I8042Controller.CommandByteAuxDisabled);
        Assert.Equal(0, _resets);
    }

    [Fact]
    public void AttachMapsTwoSinglePortsAndLeavesTheGapFree()
    {
        var bus = new PortIoBus();
        _kbc.Attach(bus);
        bus.Write(0x64, [I8042Controller.SelfTest]);
        Span<byte> b = stackalloc byte[1];
        bus.Read(0x64, b);
        Assert.Equal(I8042Controller.StatusOutputFull, b[0] & I8042Controller.StatusOutputFull);
        bus.Read(0x60, b);
        Assert.Equal(0x55, b[0]);
        bus.Register(0x61, 3, new I8042Controller(() => { }), "something at 0x61");
        Assert.Equal(3, bus.Mappings.Count);
    }

    [Fact]
    public void WholeRangeRegistrationUsesOffsetsFromPort0x60()
    {
        Span<byte> b = stackalloc byte[1];
        _kbc.Read(2, b);
        Assert.Equal(0xFF, b[0]);
        _kbc.Write(2, [I8042Controller.ResetPulse]);
        Assert.Equal(0, _resets);
    }

    [Fact]
    public void SavedStateRestoresIntoAFreshDevice()
    {
        Command(0x60);
        DataOut(0x45);
        Command(I8042Controller.WriteOutputPort);
        DataOut(0xCD);
        Command(I8042Controller.WriteKeyboardOutput);
        DataOut(0x99);
        Command(0x60);                                       // left waiting for its data byte
        var state = _kbc.SaveState();

        var pic = new RecordingInterruptController();
        var copy = new I8042Controller(() => { }, new InterruptLine(pic, 1), new InterruptLine(pic, 12));
        copy.RestoreState(state);
        Assert.True(pic.IsAsserted(1));
        Assert.False(pic.IsAsserted(12));
        Assert.Equal(state with { Ram = state.Ram, Keyboard = state.Keyboard }, copy.SaveState() with { Ram = state.Ram, Keyboard = state.Keyboard });
        Assert.Equal(state.Ram, copy.SaveState().Ram);
        copy.Write(I8042Controller.DataOffset, [0x41]);      // completes the pending 0x60
        Assert.Equal(0x41, copy.CommandByte);
    }
}
