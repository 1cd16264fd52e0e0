using System.Buffers.Binary;
using System.Numerics;

namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>
/// The 256-byte type-0 configuration header of one PCI function, with per-bit masks for what the guest may write and
/// what it clears by writing 1, a capability list allocator, and base address registers.
/// <para>
/// BARs follow the sizing protocol by their masks alone: the address bits below the size are read-only zeros, so writing
/// all ones and reading back yields the size mask with the type bits. A BAR's window is live while its decode bit
/// (I/O or memory space) in the command register is on and its address is assigned (not 0) and fits its space; each
/// time that changes, <see cref="BarMappingChanged"/> tells the owner, after the write, outside this object's lock.
/// </para>
/// </summary>
public sealed class PciConfigSpace
{
    public const int Size = 256;
    public const int BarCount = 6;
    public const int FirstCapabilityOffset = 0x40;

    public const int VendorIdOffset = 0x00, DeviceIdOffset = 0x02, CommandOffset = 0x04, StatusOffset = 0x06,
        RevisionIdOffset = 0x08, ClassCodeOffset = 0x09, CacheLineSizeOffset = 0x0C, LatencyTimerOffset = 0x0D,
        HeaderTypeOffset = 0x0E, BistOffset = 0x0F, Bar0Offset = 0x10, SubsystemVendorIdOffset = 0x2C,
        SubsystemIdOffset = 0x2E, ExpansionRomOffset = 0x30, CapabilitiesPointerOffset = 0x34,
        InterruptLineOffset = 0x3C, InterruptPinOffset = 0x3D;

    public const ushort CommandIoSpace = 0x0001, CommandMemorySpace = 0x0002, CommandBusMaster = 0x0004,
        CommandParityErrorResponse = 0x0040, CommandSerrEnable = 0x0100, CommandInterruptDisable = 0x0400;
    public const ushort StatusInterrupt = 0x0008, StatusCapabilitiesList = 0x0010;

    public const uint BarIoSpace = 0x1, BarMemory64 = 0x4, BarPrefetchable = 0x8;

    private const ushort CommandWritable = CommandIoSpace | CommandMemorySpace | CommandBusMaster
        | CommandParityErrorResponse | CommandSerrEnable | CommandInterruptDisable;
    // Master data parity error, signalled/received target abort, received master abort, signalled system error,
    // detected parity error: the device sets them, the guest clears them by writing 1.
    private const ushort StatusWriteOneToClear = 0xF900;
    private const int BarsEnd = Bar0Offset + 4 * BarCount;

    private readonly record struct BarDefinition(PciBarKind Kind, ulong Size);

    private readonly Lock _lock = new();
    private readonly byte[] _bytes = new byte[Size];
    private readonly byte[] _writable = new byte[Size];
    private readonly byte[] _writeOneToClear = new byte[Size];
    private readonly BarDefinition[] _bars = new BarDefinition[BarCount];   // Size 0: no BAR starts in this slot
    private readonly bool[] _barSlotUsed = new bool[BarCount];
    private readonly ulong?[] _barMappings = new ulong?[BarCount];
    private int _nextCapabilityOffset = FirstCapabilityOffset;
    private int _lastCapabilityOffset;

    /// <param name="classCode">Base class, subclass and programming interface as 0xCCSSPP.</param>
    /// <param name="interruptPin">0 for none, 1-4 for INTA#-INTD#.</param>
    public PciConfigSpace(ushort vendorId, ushort deviceId, uint classCode, byte revisionId = 0,
        ushort subsystemVendorId = 0, ushort subsystemId = 0, byte interruptPin = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(classCode, 0xFF_FFFFu);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(interruptPin, (byte)4);
        Put(VendorIdOffset, 2, vendorId);
        Put(DeviceIdOffset, 2, deviceId);
        Put(RevisionIdOffset, 1, revisionId);
        Put(ClassCodeOffset, 1, classCode & 0xFF);
        Put(ClassCodeOffset + 1, 2, classCode >> 8);
        Put(SubsystemVendorIdOffset, 2, subsystemVendorId);
        Put(SubsystemIdOffset, 2, subsystemId);
        Put(InterruptPinOffset, 1, interruptPin);
        PutMask(_writable, CommandOffset, 2, CommandWritable);
        PutMask(_writeOneToClear, StatusOffset, 2, StatusWriteOneToClear);
        PutMask(_writable, CacheLineSizeOffset, 1, 0xFF);
        PutMask(_writable, LatencyTimerOffset, 1, 0xFF);
        PutMask(_writable, InterruptLineOffset, 1, 0xFF);
    }

    /// <summary>
    /// Raised after a configuration write (or a restore) changed where a BAR decodes. Handlers run on the vCPU thread
    /// that wrote, with no lock of this object held; the addresses come from the guest, so a handler must cope with
    /// any of them (an overlap, say) without throwing.
    /// </summary>
    public event Action<PciBarMappingChange>? BarMappingChanged;

    public ushort VendorId => (ushort)Read(VendorIdOffset, 2);
    public ushort DeviceId => (ushort)Read(DeviceIdOffset, 2);
    public ushort Command => (ushort)Read(CommandOffset, 2);
    public bool BusMasterEnabled => (Command & CommandBusMaster) != 0;
    public bool InterruptDisabled => (Command & CommandInterruptDisable) != 0;

    /// <summary>A guest-visible read; out-of-range or odd-sized accesses read as all ones.</summary>
    public uint Read(int offset, int size)
    {
        if (!IsValidAccess(offset, size)) return uint.MaxValue;
        lock (_lock) return Get(offset, size);
    }

    /// <summary>A guest write: only writable bits change, write-one-to-clear bits clear where the value has ones.</summary>
    public void Write(int offset, int size, uint value)
    {
        if (!IsValidAccess(offset, size)) return;
        Span<PciBarMappingChange> changes = stackalloc PciBarMappingChange[BarCount];
        int changed = 0;
        lock (_lock)
        {
            for (int i = 0; i < size; i++)
            {
                int at = offset + i;
                byte b = (byte)(value >> (8 * i));
                byte kept = (byte)(_bytes[at] & ~_writable[at] | b & _writable[at]);
                _bytes[at] = (byte)(kept & ~(b & _writeOneToClear[at]));
            }
            bool touchesDecoding = offset < CommandOffset + 2 && offset + size > CommandOffset
                || offset < BarsEnd && offset + size > Bar0Offset;
            if (touchesDecoding) changed = CollectMappingChanges(changes);
        }
        Raise(changes[..changed]);
    }

    /// <summary>A device-side write that ignores the masks, for read-only fields and status bits the device owns.</summary>
    public void Set(int offset, int size, uint value)
    {
        CheckDeviceAccess(offset, size);
        lock (_lock) Put(offset, size, value);
    }

    /// <summary>Which bits of the field at <paramref name="offset"/> the guest may write.</summary>
    public void SetWritableMask(int offset, int size, uint mask)
    {
        CheckDeviceAccess(offset, size);
        lock (_lock) PutMask(_writable, offset, size, mask);
    }

    /// <summary>Which bits of the field at <paramref name="offset"/> the guest clears by writing 1.</summary>
    public void SetWriteOneToClearMask(int offset, int size, uint mask)
    {
        CheckDeviceAccess(offset, size);
        lock (_lock) PutMask(_writeOneToClear, offset, size, mask);
    }

    /// <summary>
    /// Declares BAR <paramref name="index"/> (a 64-bit BAR also takes index + 1). <paramref name="size"/> is a power of
    /// two: 4 to 256 bytes for I/O, at least 16 bytes for memory (at most 2 GiB below 4 GiB).
    /// </summary>
    public void DefineBar(int index, PciBarKind kind, ulong size, bool prefetchable = false)
    {
        int slots = kind == PciBarKind.Memory64 ? 2 : 1;
        if (index < 0 || index + slots > BarCount)
            throw new ArgumentOutOfRangeException(nameof(index), $"BAR {index} of kind {kind} does not fit in six BAR slots");
        if (!BitOperations.IsPow2(size))
            throw new ArgumentException($"BAR size 0x{size:x} is not a power of two", nameof(size));
        (ulong min, ulong max) = kind switch
        {
            PciBarKind.Io => (4UL, 256UL),
            PciBarKind.Memory32 => (16UL, 1UL << 31),
            _ => (16UL, 1UL << 63),
        };
        if (size < min || size > max)
            throw new ArgumentOutOfRangeException(nameof(size), $"a {kind} BAR is 0x{min:x} to 0x{max:x} bytes, not 0x{size:x}");
        if (kind == PciBarKind.Io && prefetchable)
            throw new ArgumentException("I/O BARs cannot be prefetchable", nameof(prefetchable));
        lock (_lock)
        {
            for (int i = index; i < index + slots; i++)
                if (_barSlotUsed[i]) throw new InvalidOperationException($"BAR slot {i} is already defined");
            int offset = Bar0Offset + 4 * index;
            ulong addressMask = ~(size - 1);
            switch (kind)
            {
                case PciBarKind.Io:
                    Put(offset, 4, BarIoSpace);
                    PutMask(_writable, offset, 4, (uint)addressMask & ~0x3u);
                    break;
                case PciBarKind.Memory32:
                    Put(offset, 4, prefetchable ? BarPrefetchable : 0);
                    PutMask(_writable, offset, 4, (uint)addressMask & ~0xFu);
                    break;
                default:
                    Put(offset, 4, BarMemory64 | (prefetchable ? BarPrefetchable : 0));
                    PutMask(_writable, offset, 4, (uint)addressMask & ~0xFu);
                    PutMask(_writable, offset + 4, 4, (uint)(addressMask >> 32));
                    break;
            }
            for (int i = index; i < index + slots; i++) _barSlotUsed[i] = true;
            _bars[index] = new BarDefinition(kind, size);
        }
    }

    /// <summary>The address programmed into BAR <paramref name="index"/>, whether or not it decodes.</summary>
    public ulong GetBarAddress(int index)
    {
        lock (_lock) return _bars[CheckBar(index)].Size == 0 ? 0 : ProgrammedAddress(index);
    }

    /// <summary>Where BAR <paramref name="index"/> decodes now, if it does.</summary>
    public bool TryGetBarMapping(int index, out ulong address)
    {
        lock (_lock)
        {
            ulong? mapping = _barMappings[CheckBar(index)];
            address = mapping ?? 0;
            return mapping.HasValue;
        }
    }

    /// <summary>
    /// Appends a capability with <paramref name="body"/> after its ID and next-pointer bytes, links it into the list
    /// and returns its offset. <paramref name="writableMask"/>, if given, is as long as the body.
    /// </summary>
    public int AddCapability(byte id, ReadOnlySpan<byte> body, ReadOnlySpan<byte> writableMask = default)
    {
        if (!writableMask.IsEmpty && writableMask.Length != body.Length)
            throw new ArgumentException("the writable mask must be as long as the capability body", nameof(writableMask));
        lock (_lock)
        {
            int offset = _nextCapabilityOffset;
            int end = offset + 2 + body.Length;
            if (end > Size)
                throw new InvalidOperationException($"capability 0x{id:x2} of {body.Length + 2} bytes does not fit at 0x{offset:x2}");
            _bytes[offset] = id;
            _bytes[offset + 1] = 0;
            body.CopyTo(_bytes.AsSpan(offset + 2));
            writableMask.CopyTo(_writable.AsSpan(offset + 2));
            if (_lastCapabilityOffset == 0)
            {
                _bytes[CapabilitiesPointerOffset] = (byte)offset;
                Put(StatusOffset, 2, Get(StatusOffset, 2) | StatusCapabilitiesList);
            }
            else
            {
                _bytes[_lastCapabilityOffset + 1] = (byte)offset;
            }
            _lastCapabilityOffset = offset;
            _nextCapabilityOffset = (end + 3) & ~3;   // capabilities start dword-aligned
            return offset;
        }
    }

    /// <summary>The offset of the first capability with <paramref name="id"/>, or -1.</summary>
    public int FindCapability(byte id)
    {
        lock (_lock)
        {
            if ((Get(StatusOffset, 2) & StatusCapabilitiesList) == 0) return -1;
            int offset = _bytes[CapabilitiesPointerOffset] & ~3;
            // At most 48 capabilities fit; the bound also stops a looped list.
            for (int steps = 0; offset >= FirstCapabilityOffset && steps < 48; steps++)
            {
                if (_bytes[offset] == id) return offset;
                offset = _bytes[offset + 1] & ~3;
            }
            return -1;
        }
    }

    public PciConfigSpaceState SaveState()
    {
        lock (_lock) return new PciConfigSpaceState { Data = (byte[])_bytes.Clone() };
    }

    /// <summary>Loads the 256 bytes and reports every BAR window that differs from before, as a guest write would.</summary>
    public void RestoreState(PciConfigSpaceState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Data.Length != Size)
            throw new ArgumentException($"PCI config state holds {state.Data.Length} bytes, not {Size}", nameof(state));
        Span<PciBarMappingChange> changes = stackalloc PciBarMappingChange[BarCount];
        int changed;
        lock (_lock)
        {
            state.Data.CopyTo(_bytes, 0);
            changed = CollectMappingChanges(changes);
        }
        Raise(changes[..changed]);
    }

    private static bool IsValidAccess(int offset, int size) =>
        size is 1 or 2 or 4 && offset >= 0 && offset + size <= Size;

    private static void CheckDeviceAccess(int offset, int size)
    {
        if (!IsValidAccess(offset, size))
            throw new ArgumentOutOfRangeException(nameof(offset), $"{size} bytes at 0x{offset:x} is not a configuration space field");
    }

    private static int CheckBar(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, BarCount);
        return index;
    }

    private uint Get(int offset, int size) => size switch
    {
        1 => _bytes[offset],
        2 => BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(offset)),
        _ => BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(offset)),
    };

    private void Put(int offset, int size, uint value) => PutMask(_bytes, offset, size, value);

    private static void PutMask(byte[] target, int offset, int size, uint value)
    {
        for (int i = 0; i < size; i++) target[offset + i] = (byte)(value >> (8 * i));
    }

    private ulong ProgrammedAddress(int index)
    {
        var bar = _bars[index];
        int offset = Bar0Offset + 4 * index;
        uint low = Get(offset, 4);
        if (bar.Kind == PciBarKind.Io) return low & ~0x3u;
        ulong address = low & ~0xFu;
        if (bar.Kind == PciBarKind.Memory64) address |= (ulong)Get(offset + 4, 4) << 32;
        return address;
    }

    /// <summary>Where BAR <paramref name="index"/> decodes, or null when its decode bit is off or its address unusable.</summary>
    private ulong? DecodedAddress(int index, ushort command)
    {
        var bar = _bars[index];
        bool enabled = (command & (bar.Kind == PciBarKind.Io ? CommandIoSpace : CommandMemorySpace)) != 0;
        if (!enabled) return null;
        ulong address = ProgrammedAddress(index);
        // 0 is "unassigned"; a window running into the top of its space is what the sizing pattern leaves behind
        // (QEMU draws the same line). I/O space ends at 0xFFFF on x86.
        ulong limit = bar.Kind switch
        {
            PciBarKind.Io => 0x1_0000,
            PciBarKind.Memory32 => 0xFFFF_FFFF,
            _ => ulong.MaxValue,
        };
        if (address == 0 || address > limit - bar.Size) return null;
        return address;
    }

    private int CollectMappingChanges(Span<PciBarMappingChange> changes)
    {
        int count = 0;
        ushort command = (ushort)Get(CommandOffset, 2);
        for (int i = 0; i < BarCount; i++)
        {
            if (_bars[i].Size == 0) continue;
            ulong? now = DecodedAddress(i, command);
            if (now == _barMappings[i]) continue;
            changes[count++] = new PciBarMappingChange(i, _bars[i].Kind, _bars[i].Size, _barMappings[i], now);
            _barMappings[i] = now;
        }
        return count;
    }

    private void Raise(ReadOnlySpan<PciBarMappingChange> changes)
    {
        var handler = BarMappingChanged;
        if (handler is null) return;
        foreach (var change in changes) handler(change);
    }
}
