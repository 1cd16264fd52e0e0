using System.Buffers.Binary;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>
/// PCI configuration mechanism #1 on ports 0xCF8-0xCFF, for bus 0. CONFIG_ADDRESS at 0xCF8 takes only 32-bit accesses
/// (other widths there are not configuration cycles: reads float, writes are dropped, as Linux's type-1 probe expects);
/// CONFIG_DATA at 0xCFC-0xCFF takes 1, 2 or 4 bytes at any byte offset, an access not aligned to its size being split
/// into bytes. Slot 0 holds the <see cref="PciHostBridge"/>. Only function 0 of each slot exists; everything absent
/// (other buses, functions, empty slots, CONFIG_ADDRESS without the enable bit) reads as all ones.
/// </summary>
public sealed class PciRoot : IBusDevice, IStatefulDevice<PciRootState>
{
    public const ushort ConfigAddressPort = 0xCF8;
    public const ushort ConfigDataPort = 0xCFC;
    public const ushort PortCount = 8;
    public const int SlotCount = 32;
    public const uint ConfigAddressEnable = 0x8000_0000;

    private const int DataOffset = ConfigDataPort - ConfigAddressPort;
    // Enable, bus, device, function, dword register; reserved bits 30:24 and the byte bits 1:0 read as zero.
    private const uint ConfigAddressWritable = 0x80FF_FFFC;

    private readonly Lock _lock = new();
    private readonly IPciDevice?[] _slots = new IPciDevice?[SlotCount];
    private uint _configAddress;

    public PciRoot()
    {
        _slots[0] = HostBridge;
    }

    public PciHostBridge HostBridge { get; } = new();

    public uint ConfigAddress
    {
        get { lock (_lock) return _configAddress; }
    }

    /// <summary>Plugs <paramref name="device"/> into <paramref name="slot"/>, or the lowest free slot, and returns the slot.</summary>
    public int AddDevice(IPciDevice device, int? slot = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        lock (_lock)
        {
            if (slot is { } wanted)
            {
                if (wanted is < 0 or >= SlotCount) throw new ArgumentOutOfRangeException(nameof(slot));
                if (_slots[wanted] is not null) throw new InvalidOperationException($"PCI slot {wanted} is taken");
                _slots[wanted] = device;
                return wanted;
            }
            for (int i = 1; i < SlotCount; i++)
                if (_slots[i] is null)
                {
                    _slots[i] = device;
                    return i;
                }
            throw new InvalidOperationException("all 32 slots of PCI bus 0 are taken");
        }
    }

    public IPciDevice? GetDevice(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, SlotCount);
        lock (_lock) return _slots[slot];
    }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            if (offset == 0 && data.Length == 4)
                BinaryPrimitives.WriteUInt32LittleEndian(data, _configAddress);
            else if (offset >= DataOffset && offset < PortCount)
                ReadData((int)offset - DataOffset, data);
            else
                data.Fill(0xFF);
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (offset == 0 && data.Length == 4)
                _configAddress = BinaryPrimitives.ReadUInt32LittleEndian(data) & ConfigAddressWritable;
            else if (offset >= DataOffset && offset < PortCount)
                WriteData((int)offset - DataOffset, data);
        }
    }

    public string StateKey => "pci";

    /// <summary>The functions in slots 1 and up; the host bridge in slot 0 is the root's own, and its configuration space is not saved.</summary>
    public IEnumerable<object> StateParts
    {
        get { lock (_lock) return _slots.Skip(1).OfType<object>().ToArray(); }
    }

    public PciRootState SaveState()
    {
        lock (_lock) return new PciRootState { ConfigAddress = _configAddress };
    }

    public void RestoreState(PciRootState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (_lock) _configAddress = state.ConfigAddress & ConfigAddressWritable;
    }

    private static bool IsNaturalAccess(int byteOffset, int size) =>
        size is 1 or 2 or 4 && byteOffset % size == 0 && byteOffset + size <= 4;

    private void ReadData(int byteOffset, Span<byte> data)
    {
        if (IsNaturalAccess(byteOffset, data.Length))
        {
            uint value = ReadConfig(byteOffset, data.Length);
            for (int i = 0; i < data.Length; i++) data[i] = (byte)(value >> (8 * i));
            return;
        }
        for (int i = 0; i < data.Length; i++)
            data[i] = byteOffset + i < 4 ? (byte)ReadConfig(byteOffset + i, 1) : (byte)0xFF;
    }

    private void WriteData(int byteOffset, ReadOnlySpan<byte> data)
    {
        if (IsNaturalAccess(byteOffset, data.Length))
        {
            uint value = 0;
            for (int i = 0; i < data.Length; i++) value |= (uint)data[i] << (8 * i);
            WriteConfig(byteOffset, data.Length, value);
            return;
        }
        for (int i = 0; i < data.Length && byteOffset + i < 4; i++)
            WriteConfig(byteOffset + i, 1, data[i]);
    }

    /// <summary>The device CONFIG_ADDRESS selects, or null if it selects nothing that exists.</summary>
    private IPciDevice? SelectedDevice()
    {
        uint address = _configAddress;
        if ((address & ConfigAddressEnable) == 0) return null;
        uint bus = (address >> 16) & 0xFF, device = (address >> 11) & 0x1F, function = (address >> 8) & 0x7;
        return bus == 0 && function == 0 ? _slots[device] : null;
    }

    private uint ReadConfig(int byteOffset, int size)
    {
        var device = SelectedDevice();
        if (device is null) return size == 4 ? uint.MaxValue : (1u << (8 * size)) - 1;
        return device.ReadConfig((int)(_configAddress & 0xFC) + byteOffset, size);
    }

    private void WriteConfig(int byteOffset, int size, uint value) =>
        SelectedDevice()?.WriteConfig((int)(_configAddress & 0xFC) + byteOffset, size, value);
}
