using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// One descriptor chain popped from a <see cref="Virtqueue"/>: its head index and its buffers in order, device-readable
/// ones first, then device-writable ones. Every buffer was checked to lie inside one RAM region when the chain was
/// popped, so copies here cannot fault. One instance is reused for every pop, so popping allocates nothing.
/// </summary>
public sealed class VirtqueueChain
{
    private readonly ulong[] _addresses;
    private readonly uint[] _lengths;
    private readonly GuestMemory _memory;

    internal VirtqueueChain(GuestMemory memory, int capacity)
    {
        _memory = memory;
        _addresses = new ulong[capacity];
        _lengths = new uint[capacity];
    }

    /// <summary>The index of the chain's first descriptor in the descriptor table: what goes back in the used ring.</summary>
    public ushort Head { get; private set; }
    /// <summary>Number of buffers (descriptors that were not indirect-table pointers).</summary>
    public int Count { get; private set; }
    /// <summary>Index of the first device-writable buffer (equal to <see cref="Count"/> when there is none).</summary>
    public int FirstWritable { get; private set; }
    public ulong ReadableLength { get; private set; }
    public ulong WritableLength { get; private set; }
    public int Capacity => _addresses.Length;

    public ulong AddressOf(int index) => _addresses[index];
    public uint LengthOf(int index) => _lengths[index];
    public bool IsWritable(int index) => index >= FirstWritable;

    /// <summary>A buffer's bytes in guest RAM; writing to it does not mark pages dirty (see <see cref="MarkWritten"/>).</summary>
    public Span<byte> SpanOf(int index) =>
        _lengths[index] == 0 ? Span<byte>.Empty : _memory.GetSpan(_addresses[index], (int)_lengths[index]);

    internal void Start(ushort head)
    {
        Head = head;
        Count = 0;
        FirstWritable = 0;
        ReadableLength = 0;
        WritableLength = 0;
    }

    internal bool IsFull => Count == _addresses.Length;

    internal void Add(ulong address, uint length, bool writable)
    {
        _addresses[Count] = address;
        _lengths[Count] = length;
        Count++;
        if (writable) WritableLength += length;
        else
        {
            ReadableLength += length;
            FirstWritable = Count;
        }
    }

    /// <summary>Copies device-readable bytes starting <paramref name="offset"/> bytes into the readable part; returns how many.</summary>
    public int Read(ulong offset, Span<byte> destination)
    {
        int copied = 0;
        for (int i = 0; i < FirstWritable && copied < destination.Length; i++)
        {
            uint length = _lengths[i];
            if (offset >= length)
            {
                offset -= length;
                continue;
            }
            int n = (int)Math.Min(length - offset, (ulong)(destination.Length - copied));
            _memory.GetSpan(_addresses[i] + offset, n).CopyTo(destination[copied..]);
            copied += n;
            offset = 0;
        }
        return copied;
    }

    /// <summary>Copies into the device-writable part starting <paramref name="offset"/> bytes into it; returns how many fit.</summary>
    public int Write(ulong offset, ReadOnlySpan<byte> source)
    {
        int copied = 0;
        for (int i = FirstWritable; i < Count && copied < source.Length; i++)
        {
            uint length = _lengths[i];
            if (offset >= length)
            {
                offset -= length;
                continue;
            }
            int n = (int)Math.Min(length - offset, (ulong)(source.Length - copied));
            _memory.Write(_addresses[i] + offset, source.Slice(copied, n));
            copied += n;
            offset = 0;
        }
        return copied;
    }

    /// <summary>
    /// Records a device write made through <see cref="SpanOf"/>: the VMM's dirty-page log, if one is on, and the
    /// engine's record of decoded code (<see cref="GuestMemory.NoteDeviceWrite"/>).
    /// </summary>
    public void MarkWritten(int index, uint length) => _memory.NoteDeviceWrite(_addresses[index], length);
}
