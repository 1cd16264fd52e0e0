using System.Buffers.Binary;
using Sharpvisor.Machine.Interrupts;

namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>
/// MSI-X for one PCI function: the capability (ID 0x11) in configuration space, and the vector table and pending-bit
/// array that live in a memory BAR of the function (the owner routes that BAR's accesses to
/// <see cref="ReadTable"/>, <see cref="WriteTable"/> and <see cref="ReadPendingBits"/>).
/// <para>
/// A vector fires as one message write of its table entry's data to its address. While the function is masked
/// (Message Control bit 14) or the entry is masked (vector control bit 0), the vector's pending bit is set instead,
/// and the message goes out when the mask is lifted. Every entry starts masked, as the specification requires.
/// </para>
/// The owner calls <see cref="ControlWritten"/> after every guest write to configuration space, so unmasking the
/// function delivers what is pending. Guest accesses of odd widths or offsets are ignored.
/// </summary>
public sealed class PciMsix
{
    public const byte CapabilityId = 0x11;
    public const int EntrySize = 16;
    public const int MaxVectors = 2048;
    public const ushort ControlEnable = 0x8000, ControlFunctionMask = 0x4000;
    public const uint VectorControlMasked = 1;
    /// <summary>"No vector": what virtio and others use for an interrupt source not bound to any entry.</summary>
    public const ushort NoVector = 0xFFFF;

    private const int AddressLowOffset = 0, AddressHighOffset = 4, DataOffset = 8, VectorControlOffset = 12;

    private readonly Lock _lock = new();
    private readonly PciConfigSpace _config;
    private readonly IInterruptController _controller;
    private readonly int _capabilityOffset;
    private readonly byte[] _table;
    private readonly ulong[] _pending;

    /// <param name="tableOffset">Offset of the table in BAR <paramref name="tableBar"/>, 8-byte aligned.</param>
    /// <param name="pbaOffset">Offset of the pending-bit array in BAR <paramref name="pbaBar"/>, 8-byte aligned.</param>
    public PciMsix(PciConfigSpace config, IInterruptController controller, int vectorCount,
        int tableBar, uint tableOffset, int pbaBar, uint pbaOffset)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(controller);
        ArgumentOutOfRangeException.ThrowIfLessThan(vectorCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vectorCount, MaxVectors);
        if (tableBar is < 0 or >= PciConfigSpace.BarCount || pbaBar is < 0 or >= PciConfigSpace.BarCount)
            throw new ArgumentOutOfRangeException(nameof(tableBar), "MSI-X structures live in BARs 0-5");
        if ((tableOffset & 7) != 0 || (pbaOffset & 7) != 0)
            throw new ArgumentException("MSI-X table and PBA offsets are 8-byte aligned");
        _config = config;
        _controller = controller;
        VectorCount = vectorCount;
        _table = new byte[vectorCount * EntrySize];
        _pending = new ulong[(vectorCount + 63) / 64];
        for (int i = 0; i < vectorCount; i++) PutTable(i * EntrySize + VectorControlOffset, VectorControlMasked);

        Span<byte> body = stackalloc byte[10];
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)(vectorCount - 1));
        BinaryPrimitives.WriteUInt32LittleEndian(body[2..], tableOffset | (uint)tableBar);
        BinaryPrimitives.WriteUInt32LittleEndian(body[6..], pbaOffset | (uint)pbaBar);
        Span<byte> writable = stackalloc byte[10];
        writable.Clear();
        writable[1] = (byte)((ControlEnable | ControlFunctionMask) >> 8);
        _capabilityOffset = config.AddCapability(CapabilityId, body, writable);
    }

    public int VectorCount { get; }
    public int CapabilityOffset => _capabilityOffset;
    /// <summary>Bytes the table occupies in its BAR.</summary>
    public ulong TableSize => (ulong)_table.Length;
    /// <summary>Bytes the pending-bit array occupies in its BAR.</summary>
    public ulong PendingBitsSize => (ulong)_pending.Length * 8;

    private ushort Control => (ushort)_config.Read(_capabilityOffset + 2, 2);
    public bool Enabled => (Control & ControlEnable) != 0;
    public bool FunctionMasked => (Control & ControlFunctionMask) != 0;

    /// <summary>Fires <paramref name="vector"/>, or marks it pending while masked. Out-of-range vectors are ignored.</summary>
    public void Signal(int vector)
    {
        if ((uint)vector >= (uint)VectorCount) return;
        bool functionMasked = FunctionMasked;
        ulong address;
        uint data;
        lock (_lock)
        {
            if (functionMasked || (GetTable(vector * EntrySize + VectorControlOffset) & VectorControlMasked) != 0)
            {
                _pending[vector / 64] |= 1UL << (vector % 64);
                return;
            }
            (address, data) = Message(vector);
        }
        _controller.SignalMsi(address, data);
    }

    public bool IsPending(int vector)
    {
        if ((uint)vector >= (uint)VectorCount) return false;
        lock (_lock) return (_pending[vector / 64] & (1UL << (vector % 64))) != 0;
    }

    /// <summary>Delivers pending vectors whose masks are now clear; call after guest writes to configuration space.</summary>
    public void ControlWritten() => DeliverUnmaskedPending(0, VectorCount);

    public void ReadTable(ulong offset, Span<byte> data)
    {
        if (!IsValidAccess(offset, data.Length, (ulong)_table.Length))
        {
            data.Fill(0xFF);
            return;
        }
        lock (_lock) _table.AsSpan((int)offset, data.Length).CopyTo(data);
    }

    public void WriteTable(ulong offset, ReadOnlySpan<byte> data)
    {
        if (!IsValidAccess(offset, data.Length, (ulong)_table.Length)) return;
        int vector = (int)offset / EntrySize;
        lock (_lock)
        {
            data.CopyTo(_table.AsSpan((int)offset));
            // Only bit 0 of vector control is defined; the rest reads as zero.
            int control = vector * EntrySize + VectorControlOffset;
            PutTable(control, GetTable(control) & VectorControlMasked);
        }
        DeliverUnmaskedPending(vector, vector + 1);
    }

    public void ReadPendingBits(ulong offset, Span<byte> data)
    {
        if (!IsValidAccess(offset, data.Length, PendingBitsSize))
        {
            data.Fill(0xFF);
            return;
        }
        lock (_lock)
        {
            for (int i = 0; i < data.Length; i++)
            {
                int at = (int)offset + i;
                data[i] = (byte)(_pending[at / 8] >> (8 * (at % 8)));
            }
        }
    }

    public PciMsixState SaveState()
    {
        lock (_lock) return new PciMsixState { Table = (byte[])_table.Clone(), PendingBits = (ulong[])_pending.Clone() };
    }

    /// <summary>Loads the table and pending bits; the capability itself is restored with the configuration space.</summary>
    public void RestoreState(PciMsixState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Table.Length != _table.Length || state.PendingBits.Length != _pending.Length)
            throw new ArgumentException($"MSI-X state is for a different table size than {VectorCount} vectors", nameof(state));
        lock (_lock)
        {
            state.Table.CopyTo(_table, 0);
            state.PendingBits.CopyTo(_pending, 0);
        }
    }

    // Dword or qword accesses, naturally aligned, as the specification allows.
    private static bool IsValidAccess(ulong offset, int length, ulong size) =>
        length is 4 or 8 && offset % (ulong)length == 0 && offset + (ulong)length <= size;

    private void DeliverUnmaskedPending(int first, int end)
    {
        if (FunctionMasked || !Enabled) return;
        for (int vector = first; vector < end; vector++)
        {
            ulong address;
            uint data;
            lock (_lock)
            {
                ulong bit = 1UL << (vector % 64);
                if ((_pending[vector / 64] & bit) == 0) continue;
                if ((GetTable(vector * EntrySize + VectorControlOffset) & VectorControlMasked) != 0) continue;
                _pending[vector / 64] &= ~bit;
                (address, data) = Message(vector);
            }
            _controller.SignalMsi(address, data);
        }
    }

    private (ulong Address, uint Data) Message(int vector)
    {
        int entry = vector * EntrySize;
        ulong address = GetTable(entry + AddressLowOffset) | (ulong)GetTable(entry + AddressHighOffset) << 32;
        return (address, GetTable(entry + DataOffset));
    }

    private uint GetTable(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_table.AsSpan(offset));
    private void PutTable(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_table.AsSpan(offset), value);
}
