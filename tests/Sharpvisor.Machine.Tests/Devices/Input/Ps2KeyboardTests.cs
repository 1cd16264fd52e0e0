using Sharpvisor.Machine.Devices.Input;
using Sharpvisor.Machine.Interrupts;

namespace Sharpvisor.Machine.Tests.Devices.Input;

/// <summary>The PS/2 keyboard behind the i8042, driven through the controller's ports as Linux's atkbd drives it.</summary>
public sealed class Ps2KeyboardTests
{
    private readonly RecordingInterruptController _pic = new();
    private readonly I8042Controller _kbc;

    public Ps2KeyboardTests() =>
        _kbc = new I8042Controller(() => { }, new InterruptLine(_pic, I8042Controller.KeyboardIrq),
            new InterruptLine(_pic, I8042Controller.AuxIrq));

    private byte Status() => In(I8042Controller.CommandOffset);
    private void Command(byte value) => _kbc.Write(I8042Controller.CommandOffset, [value]);
    private void DataOut(byte value) => _kbc.Write(I8042Controller.DataOffset, [value]);

    private byte In(ulong offset)
    {
        Span<byte> b = stackalloc byte[1];
        _kbc.Read(offset, b);
        return b[0];
    }

    /// <summary>Every byte the keyboard side has for the host, read as the guest's interrupt handler would.</summary>
    private byte[] Drain()
    {
        var bytes = new List<byte>();
        while ((Status() & I8042Controller.StatusOutputFull) != 0) bytes.Add(In(I8042Controller.DataOffset));
        return bytes.ToArray();
    }

    private void SetCommandByte(byte value)
    {
        Command(0x60);
        DataOut(value);
    }

    private const byte Untranslated = I8042Controller.CommandByteKeyboardInterrupt | I8042Controller.CommandByteSystemFlag;

    [Fact]
    public void Identify_answers_with_the_MF2_id_translated_or_not()
    {
        DataOut(Ps2Keyboard.Identify);
        Assert.Equal([0xFA, 0xAB, 0x41], Drain());
        SetCommandByte(Untranslated);
        DataOut(Ps2Keyboard.Identify);
        Assert.Equal([0xFA, 0xAB, 0x83], Drain());
    }

    [Fact]
    public void Commands_with_a_parameter_are_acknowledged_twice_and_unknown_ones_get_resend()
    {
        DataOut(Ps2Keyboard.SetLeds);
        DataOut(0x02);
        DataOut(Ps2Keyboard.SetTypematic);
        DataOut(0x20);
        DataOut(Ps2Keyboard.Echo);
        DataOut(0xE8);                                       // not a keyboard command
        Assert.Equal([0xFA, 0xFA, 0xFA, 0xFA, 0xEE, 0xFE], Drain());
        DataOut(Ps2Keyboard.Reset);
        Assert.Equal([0xFA, 0xAA], Drain());
    }

    [Fact]
    public void Scan_code_set_is_selected_and_read_back()
    {
        SetCommandByte(Untranslated);
        DataOut(Ps2Keyboard.SelectScanCodeSet);
        DataOut(0x00);
        DataOut(Ps2Keyboard.SelectScanCodeSet);
        DataOut(0x03);
        DataOut(Ps2Keyboard.SelectScanCodeSet);
        DataOut(0x00);
        DataOut(Ps2Keyboard.SelectScanCodeSet);
        DataOut(0x07);                                       // no such set
        Assert.Equal([0xFA, 0xFA, 0x02, 0xFA, 0xFA, 0xFA, 0xFA, 0x03, 0xFA, 0xFE], Drain());
    }

    [Fact]
    public void Ctrl_Alt_Del_arrives_as_set_1_codes_when_the_controller_translates()
    {
        Assert.True(_kbc.TypeCtrlAltDel());
        Assert.Equal([0x1D, 0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D], Drain());
    }

    [Fact]
    public void Ctrl_Alt_Del_arrives_in_the_keyboards_own_set_otherwise()
    {
        SetCommandByte(Untranslated);
        Assert.True(_kbc.TypeCtrlAltDel());
        Assert.Equal([0x14, 0x11, 0xE0, 0x71, 0xE0, 0xF0, 0x71, 0xF0, 0x11, 0xF0, 0x14], Drain());

        DataOut(Ps2Keyboard.SelectScanCodeSet);
        DataOut(0x03);
        Assert.Equal([0xFA, 0xFA], Drain());
        Assert.True(_kbc.TypeCtrlAltDel());
        Assert.Equal([0x11, 0x19, 0x64, 0xF0, 0x64, 0xF0, 0x19, 0xF0, 0x11], Drain());
    }

    [Fact]
    public void Each_byte_raises_its_own_edge_on_IRQ_1()
    {
        Assert.True(_kbc.TypeCtrlAltDel());
        _ = Drain();
        bool[] levels = _pic.Levels(I8042Controller.KeyboardIrq);
        Assert.Equal(8, levels.Count(l => l));
        for (int i = 1; i < levels.Length; i++) Assert.NotEqual(levels[i - 1], levels[i]);
        Assert.False(_pic.IsAsserted(I8042Controller.KeyboardIrq));
    }

    [Fact]
    public void Keys_are_dropped_while_scanning_is_off()
    {
        DataOut(Ps2Keyboard.DisableScanning);
        Assert.Equal([0xFA], Drain());
        Assert.False(_kbc.TypeCtrlAltDel());
        Assert.Empty(Drain());
        DataOut(Ps2Keyboard.EnableScanning);
        Assert.Equal([0xFA], Drain());
        Assert.True(_kbc.TypeCtrlAltDel());
        Assert.Equal(8, Drain().Length);
    }

    [Fact]
    public void Keys_wait_while_the_keyboard_interface_is_disabled()
    {
        Command(I8042Controller.DisableKeyboard);
        Assert.True(_kbc.TypeCtrlAltDel());
        Assert.Empty(Drain());
        Command(I8042Controller.EnableKeyboard);
        Assert.Equal([0x1D, 0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D], Drain());
    }

    [Fact]
    public void A_chord_that_does_not_fit_the_keyboards_buffer_is_dropped_whole()
    {
        Assert.True(_kbc.TypeCtrlAltDel());                  // one byte in the output buffer, seven queued
        Assert.True(_kbc.TypeCtrlAltDel());                  // fifteen queued
        Assert.False(_kbc.TypeCtrlAltDel());
        Assert.Equal(16, Drain().Length);
    }

    [Fact]
    public void Queued_keys_survive_save_and_restore()
    {
        Assert.True(_kbc.TypeCtrlAltDel());
        Assert.Equal(0x1D, In(I8042Controller.DataOffset));
        var state = _kbc.SaveState();
        Assert.Equal(0x38, state.OutputBuffer);             // the next byte moved up as the first was read
        Assert.Equal([0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D], state.Keyboard.Queue);

        var pic = new RecordingInterruptController();
        var copy = new I8042Controller(() => { }, new InterruptLine(pic, 1), new InterruptLine(pic, 12));
        copy.RestoreState(state);
        Assert.True(pic.IsAsserted(1));
        var bytes = new List<byte>();
        Span<byte> b = stackalloc byte[1];
        for (int i = 0; i < 7; i++)
        {
            copy.Read(I8042Controller.DataOffset, b);
            bytes.Add(b[0]);
        }
        Assert.Equal([0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D], bytes);
        Assert.Throws<ArgumentException>(() => copy.RestoreState(state with { Keyboard = state.Keyboard with { ScanCodeSet = 4 } }));
        Assert.Throws<ArgumentException>(() => copy.RestoreState(state with { Keyboard = state.Keyboard with { Queue = new byte[17] } }));
    }
}
