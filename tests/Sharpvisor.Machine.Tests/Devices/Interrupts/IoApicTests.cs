using System.Buffers.Binary;
using Sharpvisor.Machine.Devices.Interrupts;

namespace Sharpvisor.Machine.Tests.Devices.Interrupts;

public sealed class IoApicTests
{
    private readonly RecordingMessageSink _sink = new();
    private readonly IoApic _ioApic;

    public IoApicTests() => _ioApic = new IoApic(_sink, id: 2);

    private uint ReadIndirect(byte index)
    {
        _ioApic.Write(IoApic.RegisterSelectOffset, [index]);
        Span<byte> b = stackalloc byte[4];
        _ioApic.Read(IoApic.WindowOffset, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    private void WriteIndirect(byte index, uint value)
    {
        Span<byte> sel = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(sel, index);
        _ioApic.Write(IoApic.RegisterSelectOffset, sel);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _ioApic.Write(IoApic.WindowOffset, b);
    }

    private void Program(int pin, ulong entry)
    {
        WriteIndirect((byte)(IoApic.RedirectionTableBase + 2 * pin + 1), (uint)(entry >> 32));
        WriteIndirect((byte)(IoApic.RedirectionTableBase + 2 * pin), (uint)entry);
    }

    private ulong Entry(int pin) =>
        ReadIndirect((byte)(IoApic.RedirectionTableBase + 2 * pin)) | (ulong)ReadIndirect((byte)(IoApic.RedirectionTableBase + 2 * pin + 1)) << 32;

    private const ulong Level = IoApic.EntryLevelTriggered;

    [Fact]
    public void IdentificationRegisters()
    {
        Assert.Equal(0x0017_0011u, ReadIndirect(IoApic.VersionRegister));
        Assert.Equal(2u << 24, ReadIndirect(IoApic.IdRegister));
        Assert.Equal(2u << 24, ReadIndirect(IoApic.ArbitrationRegister));
        WriteIndirect(IoApic.IdRegister, 0xFFFF_FFFF);
        Assert.Equal(0xFu << 24, ReadIndirect(IoApic.IdRegister));
        Assert.Equal((byte)0xF, _ioApic.Id);
        WriteIndirect(IoApic.VersionRegister, 0);
        WriteIndirect(IoApic.ArbitrationRegister, 0);
        Assert.Equal(0x0017_0011u, ReadIndirect(IoApic.VersionRegister));
        Assert.Equal(0xFu << 24, ReadIndirect(IoApic.ArbitrationRegister));
    }

    [Fact]
    public void RegisterSelectReadsBackAndByteAccessesWork()
    {
        _ioApic.Write(IoApic.RegisterSelectOffset, [0x13]);
        Span<byte> one = stackalloc byte[1];
        _ioApic.Read(IoApic.RegisterSelectOffset, one);
        Assert.Equal(0x13, one[0]);
        WriteIndirect(IoApic.IdRegister, 0x0500_0000);
        _ioApic.Write(IoApic.RegisterSelectOffset, [IoApic.IdRegister]);
        _ioApic.Read(IoApic.WindowOffset + 3, one);
        Assert.Equal(0x05, one[0]);
    }

    [Fact]
    public void EntriesStartMaskedAndKeepOnlyDefinedBits()
    {
        for (int pin = 0; pin < IoApic.PinCount; pin++) Assert.Equal(IoApic.EntryMasked, Entry(pin));
        Program(5, ulong.MaxValue);
        // Delivery status (12), Remote IRR (14) and bits 55:17 are not writable.
        Assert.Equal(0xFF00_0000_0001_AFFFUL, Entry(5));
    }

    [Fact]
    public void BadIndicesOffsetsAndWidthsAreIgnored()
    {
        Assert.Equal(0u, ReadIndirect(0x03));
        Assert.Equal(0u, ReadIndirect(0x40));     // one past entry 23's high half
        Assert.Equal(0u, ReadIndirect(0xFF));
        WriteIndirect(0x40, 0xFFFF_FFFF);
        WriteIndirect(0xFF, 0xFFFF_FFFF);
        _ioApic.Write(0x20, [1, 2, 3, 4]);
        _ioApic.Write(IoApic.RegisterSelectOffset, [IoApic.RedirectionTableBase]);
        _ioApic.Write(IoApic.WindowOffset, [0x41, 0x00]);   // a partial IOWIN write
        Assert.Equal(IoApic.EntryMasked, Entry(0));
        var state = _ioApic.SaveState();
        Assert.All(state.RedirectionEntries, e => Assert.Equal(IoApic.EntryMasked, e));
        Span<byte> b = stackalloc byte[4];
        _ioApic.Read(0x800, b);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(b));
    }

    [Fact]
    public void EdgeTriggeredPinSendsOneMessagePerRisingEdge()
    {
        Program(4, 0x31 | (3UL << 56));
        _ioApic.SetIrqLevel(4, true);
        _ioApic.SetIrqLevel(4, true);
        Assert.Single(_sink.Messages);
        Assert.Equal(new InterruptMessage(3, false, InterruptDeliveryMode.Fixed, 0x31, false), _sink.Messages[0]);
        _ioApic.SetIrqLevel(4, false);
        _ioApic.SetIrqLevel(4, true);
        Assert.Equal(2, _sink.Count);
        Assert.Equal(0UL, Entry(4) & IoApic.EntryRemoteIrr);
    }

    [Fact]
    public void EdgeOnAMaskedPinIsLost()
    {
        Program(4, 0x31 | IoApic.EntryMasked);
        _ioApic.SetIrqLevel(4, true);
        Program(4, 0x31);
        Assert.Empty(_sink.Messages);
        _ioApic.SetIrqLevel(4, false);
        _ioApic.SetIrqLevel(4, true);
        Assert.Single(_sink.Messages);
    }

    [Fact]
    public void LevelTriggeredPinWaitsForEoiAndRedeliversWhileAsserted()
    {
        Program(10, 0x52 | Level | IoApic.EntryLogicalDestination | (1UL << 8) | (0x0FUL << 56));
        _ioApic.SetIrqLevel(10, true);
        Assert.Equal(new InterruptMessage(0x0F, true, InterruptDeliveryMode.LowestPriority, 0x52, true), Assert.Single(_sink.Messages));
        Assert.NotEqual(0UL, Entry(10) & IoApic.EntryRemoteIrr);
        _ioApic.SetIrqLevel(10, true);
        Assert.Single(_sink.Messages);
        _ioApic.EndOfInterrupt(0x53);                       // another vector: nothing
        Assert.NotEqual(0UL, Entry(10) & IoApic.EntryRemoteIrr);
        _ioApic.EndOfInterrupt(0x52);                       // still asserted: delivered again
        Assert.Equal(2, _sink.Count);
        Assert.NotEqual(0UL, Entry(10) & IoApic.EntryRemoteIrr);
        _ioApic.SetIrqLevel(10, false);
        _ioApic.EndOfInterrupt(0x52);                       // released: Remote IRR clears, no message
        Assert.Equal(2, _sink.Count);
        Assert.Equal(0UL, Entry(10) & IoApic.EntryRemoteIrr);
    }

    [Fact]
    public void MaskedLevelPinIsDeliveredWhenUnmaskedIfStillAsserted()
    {
        Program(7, 0x60 | Level | IoApic.EntryMasked);
        _ioApic.SetIrqLevel(7, true);
        Assert.Empty(_sink.Messages);
        Program(7, 0x60 | Level);
        Assert.Single(_sink.Messages);
        Program(7, 0x60 | Level);                           // Remote IRR is set: a rewrite sends nothing
        Assert.Single(_sink.Messages);
    }

    [Fact]
    public void NoRemoteIrrWhenNobodyTookTheMessage()
    {
        _sink.Accepts = false;
        Program(9, 0x61 | Level);
        _ioApic.SetIrqLevel(9, true);
        Assert.Single(_sink.Messages);
        Assert.Equal(0UL, Entry(9) & IoApic.EntryRemoteIrr);
        _sink.Accepts = true;
        Program(9, 0x61 | Level);                           // the guest reprograms it: delivered now
        Assert.Equal(2, _sink.Count);
        Assert.NotEqual(0UL, Entry(9) & IoApic.EntryRemoteIrr);
    }

    [Fact]
    public void SwitchingToEdgeClearsRemoteIrr()
    {
        Program(3, 0x70 | Level);
        _ioApic.SetIrqLevel(3, true);
        Assert.NotEqual(0UL, Entry(3) & IoApic.EntryRemoteIrr);
        Program(3, 0x70);
        Assert.Equal(0UL, Entry(3) & IoApic.EntryRemoteIrr);
    }

    [Fact]
    public void PolarityIsStoredAndDoesNotInvertTheLogicalLevel()
    {
        Program(16, 0x80 | Level | IoApic.EntryActiveLow);
        Assert.NotEqual(0UL, Entry(16) & IoApic.EntryActiveLow);
        _ioApic.SetIrqLevel(16, false);
        Assert.Empty(_sink.Messages);
        _ioApic.SetIrqLevel(16, true);
        Assert.Single(_sink.Messages);
    }

    [Fact]
    public void DeliveryModesPassThrough()
    {
        Program(1, (4UL << 8) | (1UL << 56));                // NMI
        Program(2, (5UL << 8) | (1UL << 56));                // INIT
        _ioApic.SetIrqLevel(1, true);
        _ioApic.SetIrqLevel(2, true);
        Assert.Equal(InterruptDeliveryMode.Nmi, _sink.Messages[0].DeliveryMode);
        Assert.Equal(InterruptDeliveryMode.Init, _sink.Messages[1].DeliveryMode);
    }

    [Fact]
    public void LinesBeyondThePinsAreIgnored()
    {
        _ioApic.SetIrqLevel(24, true);
        _ioApic.SetIrqLevel(1000, true);
        Assert.Empty(_sink.Messages);
        Assert.Equal(0u, _ioApic.SaveState().AssertedLines);
    }

    [Fact]
    public void SaveAndRestoreRoundTrip()
    {
        Program(0, 0x30 | (1UL << 56));
        Program(11, 0x41 | Level | (2UL << 56));
        _ioApic.SetIrqLevel(11, true);
        _ioApic.SetIrqLevel(5, true);
        _ioApic.Write(IoApic.RegisterSelectOffset, [0x17]);
        var state = _ioApic.SaveState();

        var sink = new RecordingMessageSink();
        var copy = new IoApic(sink);
        copy.RestoreState(state);
        Assert.Equal(state, copy.SaveState(), new StateComparer());
        Assert.Empty(sink.Messages);
        copy.EndOfInterrupt(0x41);                           // Remote IRR survived, and the line is still asserted
        Assert.Equal(0x41, Assert.Single(sink.Messages).Vector);
        Assert.Throws<ArgumentException>(() => copy.RestoreState(state with { RedirectionEntries = new ulong[3] }));
    }

    [Fact]
    public void ConcurrentLinesAllArrive()
    {
        for (int pin = 0; pin < 16; pin++) Program(pin, (ulong)(0x30 + pin));
        const int Edges = 500;
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            for (int i = 0; i < Edges; i++)
            {
                _ioApic.SetIrqLevel((uint)(2 * t), true);
                _ioApic.SetIrqLevel((uint)(2 * t), false);
                _ioApic.SetIrqLevel((uint)(2 * t + 1), true);
                _ioApic.SetIrqLevel((uint)(2 * t + 1), false);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Equal(8 * 2 * Edges, _sink.Count);
        for (int pin = 0; pin < 16; pin++) Assert.Equal(Edges, _sink.Messages.Count(m => m.Vector == 0x30 + pin));
    }

    private sealed class StateComparer : IEqualityComparer<IoApicState>
    {
        public bool Equals(IoApicState? a, IoApicState? b) =>
            a is not null && b is not null && a.Id == b.Id && a.RegisterSelect == b.RegisterSelect
            && a.AssertedLines == b.AssertedLines && a.RedirectionEntries.SequenceEqual(b.RedirectionEntries);

        public int GetHashCode(IoApicState s) => s.Id;
    }
}
