using Sharpvisor.Machine.Devices.Pci;

namespace Sharpvisor.Machine.Tests.Devices.Pci;

public sealed class PciMsixTests
{
    private readonly PciConfigSpace _config = new(0x1AF4, 0x1042, 0x01_00_00);
    private readonly RecordingInterruptController _interrupts = new();
    private readonly PciMsix _msix;

    public PciMsixTests() => _msix = new PciMsix(_config, _interrupts, 3, tableBar: 1, tableOffset: 0, pbaBar: 1, pbaOffset: 0x800);

    private void Program(int vector, ulong address, uint data, bool masked)
    {
        void Put(ulong offset, uint value)
        {
            Span<byte> b = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, value);
            _msix.WriteTable(offset, b);
        }
        ulong entry = (ulong)(vector * PciMsix.EntrySize);
        Put(entry, (uint)address);
        Put(entry + 4, (uint)(address >> 32));
        Put(entry + 8, data);
        Put(entry + 12, masked ? PciMsix.VectorControlMasked : 0);
    }

    private void Control(ushort value) => _config.Write(_msix.CapabilityOffset + 2, 2, value);

    [Fact]
    public void Capability_describes_table_size_and_locations()
    {
        int cap = _config.FindCapability(PciMsix.CapabilityId);
        Assert.Equal(_msix.CapabilityOffset, cap);
        Assert.Equal(2u, _config.Read(cap + 2, 2));                 // table size - 1
        Assert.Equal(0u | 1, _config.Read(cap + 4, 4));              // offset 0, BIR 1
        Assert.Equal(0x800u | 1, _config.Read(cap + 8, 4));
        _config.Write(cap + 2, 2, 0xFFFF);                          // only enable and function mask are writable
        Assert.Equal(0xC002u, _config.Read(cap + 2, 2));
    }

    [Fact]
    public void Entries_start_masked_and_signals_then_pend()
    {
        Span<byte> control = stackalloc byte[4];
        _msix.ReadTable(12, control);
        Assert.Equal(1, control[0]);
        Control(PciMsix.ControlEnable);
        _msix.Signal(0);
        Assert.Empty(_interrupts.Messages);
        Assert.True(_msix.IsPending(0));
    }

    [Fact]
    public void Unmasked_vector_sends_its_message_and_function_mask_defers_it()
    {
        Control(PciMsix.ControlEnable);
        Program(2, 0xFEE0_1000, 0x4031, masked: false);
        _msix.Signal(2);
        Assert.Equal([(0xFEE0_1000UL, 0x4031u)], _interrupts.Messages);

        Control(PciMsix.ControlEnable | PciMsix.ControlFunctionMask);
        _msix.Signal(2);
        Assert.Single(_interrupts.Messages);
        Span<byte> pba = stackalloc byte[8];
        _msix.ReadPendingBits(0, pba);
        Assert.Equal(0b100, pba[0]);
        Control(PciMsix.ControlEnable);
        _msix.ControlWritten();
        Assert.Equal(2, _interrupts.Messages.Count);
        Assert.False(_msix.IsPending(2));
    }

    [Fact]
    public void Bad_accesses_and_vectors_are_ignored()
    {
        Span<byte> two = stackalloc byte[2];
        _msix.WriteTable(0, two);                                   // not a dword or qword
        _msix.WriteTable(0x1000, stackalloc byte[4]);               // beyond the table
        Span<byte> read = stackalloc byte[4];
        _msix.ReadTable(3, read);
        Assert.Equal(0xFFFFFFFFu, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(read));
        _msix.Signal(3);
        _msix.Signal(-1);
        Assert.Empty(_interrupts.Messages);
    }

    [Fact]
    public void State_round_trips()
    {
        Program(1, 0xFEE0_0000, 0x55, masked: true);
        Control(PciMsix.ControlEnable);
        _msix.Signal(1);
        var state = _msix.SaveState();
        var other = new PciMsix(new PciConfigSpace(1, 2, 0), _interrupts, 3, 1, 0, 1, 0x800);
        other.RestoreState(state);
        Assert.True(other.IsPending(1));
        Assert.Equal(state.Table, other.SaveState().Table);
    }
}
