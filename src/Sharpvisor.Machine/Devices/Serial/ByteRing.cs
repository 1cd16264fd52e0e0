namespace Sharpvisor.Machine.Devices.Serial;

/// <summary>
/// A FIFO of bytes in a circular buffer that grows by doubling up to a fixed limit. Enqueueing within the current
/// capacity and dequeueing never allocate, so the guest-facing side of a device stays allocation-free. Not thread-safe:
/// its owner locks.
/// </summary>
internal sealed class ByteRing
{
    private byte[] _buffer;
    private int _head;
    private int _count;

    public ByteRing(int initialCapacity, int maxCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(initialCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCapacity, initialCapacity);
        _buffer = new byte[initialCapacity];
        MaxCapacity = maxCapacity;
    }

    public int Count => _count;
    public int MaxCapacity { get; }
    public int FreeSpace => MaxCapacity - _count;

    /// <summary>Appends as much of <paramref name="bytes"/> as fits under the limit; returns how many bytes that was.</summary>
    public int Enqueue(ReadOnlySpan<byte> bytes)
    {
        int n = Math.Min(bytes.Length, FreeSpace);
        if (n == 0) return 0;
        EnsureCapacity(_count + n);
        int tail = (_head + _count) % _buffer.Length;
        int first = Math.Min(n, _buffer.Length - tail);
        bytes[..first].CopyTo(_buffer.AsSpan(tail));
        bytes[first..n].CopyTo(_buffer);
        _count += n;
        return n;
    }

    public bool TryEnqueue(byte value)
    {
        if (_count == MaxCapacity) return false;
        EnsureCapacity(_count + 1);
        _buffer[(_head + _count) % _buffer.Length] = value;
        _count++;
        return true;
    }

    public bool TryDequeue(out byte value)
    {
        if (_count == 0)
        {
            value = 0;
            return false;
        }
        value = _buffer[_head];
        _head = (_head + 1) % _buffer.Length;
        _count--;
        return true;
    }

    public void Clear()
    {
        _head = 0;
        _count = 0;
    }

    public byte[] ToArray()
    {
        var result = new byte[_count];
        for (int i = 0; i < _count; i++)
            result[i] = _buffer[(_head + i) % _buffer.Length];
        return result;
    }

    private void EnsureCapacity(int needed)
    {
        if (needed <= _buffer.Length) return;
        int capacity = _buffer.Length;
        while (capacity < needed) capacity = (int)Math.Min((long)capacity * 2, MaxCapacity);
        var grown = new byte[capacity];
        for (int i = 0; i < _count; i++)
            grown[i] = _buffer[(_head + i) % _buffer.Length];
        _buffer = grown;
        _head = 0;
    }
}
