using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// The device side of one split virtqueue (virtio 1.x, section 2.7): the descriptor table, the available ring the
/// driver fills and the used ring the device fills, with indirect descriptors and the event-index feature.
/// <para>
/// Everything read from guest memory is checked before use: the rings must lie in RAM when the queue goes live
/// (<see cref="Validate"/>), an available index may not run more than the queue size ahead, every head and next index
/// must be inside its table, a chain may not hold more descriptors than the queue (which is also what stops loops),
/// every buffer must lie inside one RAM region and be shorter than 2 GiB, writable buffers must follow readable ones,
/// and an indirect table must be a whole number of descriptors in RAM and may not nest. A violation throws
/// <see cref="VirtqueueException"/>, which the device turns into DEVICE_NEEDS_RESET.
/// </para>
/// One thread at a time uses a live queue (the device serialises its processing); the transport only reconfigures
/// it while the device is not live.
/// </summary>
public sealed class Virtqueue
{
    public const ushort DescriptorNext = 1, DescriptorWrite = 2, DescriptorIndirect = 4;
    public const ushort AvailableNoInterrupt = 1;
    public const int DescriptorSize = 16;
    public const ushort LargestSize = 32768;
    /// <summary>Most buffers one chain may have through an indirect table (QEMU's limit too).</summary>
    public const int MaxIndirectChain = 1024;

    private readonly GuestMemory _memory;
    private readonly VirtqueueChain _chain;
    private ushort _nextAvailable;
    private ushort _usedIndex;
    private ushort _signalledUsed;
    private bool _signalledUsedValid;

    public Virtqueue(GuestMemory memory, int index, ushort maxSize)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (maxSize == 0 || maxSize > LargestSize || !BitOperations.IsPow2(maxSize))
            throw new ArgumentOutOfRangeException(nameof(maxSize), "a split queue's size is a power of two up to 32768");
        _memory = memory;
        Index = index;
        MaxSize = maxSize;
        _chain = new VirtqueueChain(memory, Math.Max((int)maxSize, MaxIndirectChain));
        Reset();
    }

    public int Index { get; }
    public ushort MaxSize { get; }

    // Programmed by the driver through the transport.
    public ushort Size { get; set; }
    public bool Enabled { get; set; }
    public ushort MsixVector { get; set; }
    public ulong DescriptorTableAddress { get; set; }
    public ulong AvailableRingAddress { get; set; }
    public ulong UsedRingAddress { get; set; }
    /// <summary>Whether VIRTIO_F_EVENT_IDX was negotiated.</summary>
    public bool EventIndex { get; set; }
    /// <summary>Whether VIRTIO_F_INDIRECT_DESC was negotiated.</summary>
    public bool IndirectDescriptors { get; set; }

    /// <summary>The available-ring index of the next chain the device will take.</summary>
    public ushort NextAvailableIndex => _nextAvailable;
    /// <summary>The used-ring index the device last published.</summary>
    public ushort UsedIndex => _usedIndex;

    /// <summary>Back to the state after a device reset: not enabled, size <see cref="MaxSize"/>, no addresses.</summary>
    public void Reset()
    {
        Size = MaxSize;
        Enabled = false;
        MsixVector = PciMsix.NoVector;
        DescriptorTableAddress = AvailableRingAddress = UsedRingAddress = 0;
        EventIndex = IndirectDescriptors = false;
        _nextAvailable = _usedIndex = _signalledUsed = 0;
        _signalledUsedValid = false;
    }

    /// <summary>Null when the queue's size and rings are usable; otherwise why not.</summary>
    public string? Validate()
    {
        if (Size == 0 || Size > MaxSize || !BitOperations.IsPow2(Size))
            return $"queue {Index}: size {Size} is not a power of two up to {MaxSize}";
        if (DescriptorTableAddress % 16 != 0 || AvailableRingAddress % 2 != 0 || UsedRingAddress % 4 != 0)
            return $"queue {Index}: misaligned rings (descriptors 0x{DescriptorTableAddress:x}, available 0x{AvailableRingAddress:x}, used 0x{UsedRingAddress:x})";
        if (!_memory.IsRam(DescriptorTableAddress, (ulong)Size * DescriptorSize))
            return $"queue {Index}: descriptor table at 0x{DescriptorTableAddress:x} is not in RAM";
        if (!_memory.IsRam(AvailableRingAddress, 6 + 2UL * Size))
            return $"queue {Index}: available ring at 0x{AvailableRingAddress:x} is not in RAM";
        if (!_memory.IsRam(UsedRingAddress, 6 + 8UL * Size))
            return $"queue {Index}: used ring at 0x{UsedRingAddress:x} is not in RAM";
        return null;
    }

    /// <summary>Whether the driver has made chains available that the device has not taken.</summary>
    public bool HasAvailable() => AvailableCount() != 0;

    /// <summary>
    /// Takes the next available chain (in an object reused by every pop, valid until the next one), or null if there is none.
    /// Throws <see cref="VirtqueueException"/> on anything malformed.
    /// </summary>
    public VirtqueueChain? Pop()
    {
        if (AvailableCount() == 0) return null;
        // The ring entry must be read after the index that published it.
        Interlocked.MemoryBarrier();
        ushort head = ReadUInt16(AvailableRingAddress + 4 + 2UL * (ushort)(_nextAvailable & (Size - 1)));
        if (head >= Size) throw new VirtqueueException($"queue {Index}: available ring names descriptor {head}, beyond the queue size {Size}");
        Walk(head);
        _nextAvailable++;
        return _chain;
    }

    /// <summary>Returns a chain to the driver: its head and how many bytes the device wrote into it.</summary>
    public void PushUsed(ushort head, uint writtenLength)
    {
        ulong entry = UsedRingAddress + 4 + 8UL * (ushort)(_usedIndex & (Size - 1));
        Span<byte> element = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(element, head);
        BinaryPrimitives.WriteUInt32LittleEndian(element[4..], writtenLength);
        _memory.Write(entry, element);
        // The element must be visible before the index that publishes it.
        Interlocked.MemoryBarrier();
        _usedIndex++;
        WriteUInt16(UsedRingAddress + 2, _usedIndex);
    }

    /// <summary>
    /// Whether the driver wants an interrupt for what was pushed since the last call: with event index, when the used
    /// index crossed the driver's used_event; without, unless the driver set VIRTQ_AVAIL_F_NO_INTERRUPT.
    /// </summary>
    public bool ShouldInterrupt()
    {
        // Our used index must be visible before we read the driver's suppression state.
        Interlocked.MemoryBarrier();
        ushort now = _usedIndex, before = _signalledUsed;
        bool valid = _signalledUsedValid;
        _signalledUsed = now;
        _signalledUsedValid = true;
        if (!EventIndex) return (ReadUInt16(AvailableRingAddress) & AvailableNoInterrupt) == 0;
        if (!valid) return true;
        ushort usedEvent = ReadUInt16(AvailableRingAddress + 4 + 2UL * Size);
        return (ushort)(now - usedEvent - 1) < (ushort)(now - before);
    }

    /// <summary>
    /// With event index, asks the driver to notify when it makes anything beyond what the device has taken available
    /// (avail_event). Call before the last check for more work, so a chain added meanwhile is not missed.
    /// </summary>
    public void RequestNotification()
    {
        if (!EventIndex) return;
        WriteUInt16(UsedRingAddress + 4 + 8UL * Size, _nextAvailable);
        Interlocked.MemoryBarrier();
    }

    public VirtqueueState SaveState() => new()
    {
        Size = Size, Enabled = Enabled, MsixVector = MsixVector, DescriptorTableAddress = DescriptorTableAddress,
        AvailableRingAddress = AvailableRingAddress, UsedRingAddress = UsedRingAddress, EventIndex = EventIndex,
        IndirectDescriptors = IndirectDescriptors, NextAvailableIndex = _nextAvailable, UsedIndex = _usedIndex,
        SignalledUsedIndex = _signalledUsed, SignalledUsedValid = _signalledUsedValid,
    };

    public void RestoreState(VirtqueueState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        Size = state.Size;
        Enabled = state.Enabled;
        MsixVector = state.MsixVector;
        DescriptorTableAddress = state.DescriptorTableAddress;
        AvailableRingAddress = state.AvailableRingAddress;
        UsedRingAddress = state.UsedRingAddress;
        EventIndex = state.EventIndex;
        IndirectDescriptors = state.IndirectDescriptors;
        _nextAvailable = state.NextAvailableIndex;
        _usedIndex = state.UsedIndex;
        _signalledUsed = state.SignalledUsedIndex;
        _signalledUsedValid = state.SignalledUsedValid;
    }

    private int AvailableCount()
    {
        ushort published = ReadUInt16(AvailableRingAddress + 2);
        int count = (ushort)(published - _nextAvailable);
        if (count > Size)
            throw new VirtqueueException($"queue {Index}: available index {published} is {count} ahead of the device's {_nextAvailable}, more than the queue size {Size}");
        return count;
    }

    private void Walk(ushort head)
    {
        _chain.Start(head);
        ulong table = DescriptorTableAddress;
        uint tableSize = Size;
        bool inIndirect = false;
        ushort index = head;
        int visited = 0;
        while (true)
        {
            if (++visited > tableSize)
                throw new VirtqueueException($"queue {Index}: chain from descriptor {head} is longer than its table ({tableSize}): a loop or an overlong chain");
            ulong at = table + (ulong)index * DescriptorSize;
            ulong address = ReadUInt64(at);
            uint length = ReadUInt32(at + 8);
            ushort flags = ReadUInt16(at + 12);
            ushort next = ReadUInt16(at + 14);

            if ((flags & DescriptorIndirect) != 0)
            {
                if (inIndirect) throw new VirtqueueException($"queue {Index}: nested indirect table in chain {head}");
                if (!IndirectDescriptors) throw new VirtqueueException($"queue {Index}: indirect descriptor without VIRTIO_F_INDIRECT_DESC");
                if ((flags & DescriptorNext) != 0) throw new VirtqueueException($"queue {Index}: indirect descriptor with NEXT set in chain {head}");
                if (length == 0 || length % DescriptorSize != 0 || length / DescriptorSize > MaxIndirectChain)
                    throw new VirtqueueException($"queue {Index}: indirect table of {length} bytes in chain {head}");
                if (!_memory.IsRam(address, length))
                    throw new VirtqueueException($"queue {Index}: indirect table at 0x{address:x} (+{length}) is not in RAM");
                table = address;
                tableSize = length / DescriptorSize;
                inIndirect = true;
                visited = 0;
                index = 0;
                continue;
            }

            bool writable = (flags & DescriptorWrite) != 0;
            if (!writable && _chain.FirstWritable != _chain.Count)
                throw new VirtqueueException($"queue {Index}: readable buffer after a writable one in chain {head}");
            if (length > int.MaxValue)
                throw new VirtqueueException($"queue {Index}: buffer of {length} bytes in chain {head}");
            if (length != 0 && !_memory.IsRam(address, length))
                throw new VirtqueueException($"queue {Index}: buffer 0x{address:x} (+{length}) in chain {head} is not in RAM");
            if (_chain.IsFull) throw new VirtqueueException($"queue {Index}: chain from descriptor {head} has more than {_chain.Capacity} buffers");
            _chain.Add(address, length, writable);

            if ((flags & DescriptorNext) == 0) return;
            if (next >= tableSize)
                throw new VirtqueueException($"queue {Index}: descriptor {index} of chain {head} links to {next}, beyond its table ({tableSize})");
            index = next;
        }
    }

    // Ring fields are shared with the guest's vCPUs: read and written whole, never torn.
    private ushort ReadUInt16(ulong gpa) => Volatile.Read(ref Unsafe.As<byte, ushort>(ref MemoryMarshal.GetReference(_memory.GetSpan(gpa, 2))));
    private uint ReadUInt32(ulong gpa) => BinaryPrimitives.ReadUInt32LittleEndian(_memory.GetSpan(gpa, 4));
    private ulong ReadUInt64(ulong gpa) => BinaryPrimitives.ReadUInt64LittleEndian(_memory.GetSpan(gpa, 8));

    private void WriteUInt16(ulong gpa, ushort value)
    {
        Volatile.Write(ref Unsafe.As<byte, ushort>(ref MemoryMarshal.GetReference(_memory.GetSpan(gpa, 2))), value);
        _memory.NoteDeviceWrite(gpa, 2);
    }
}
