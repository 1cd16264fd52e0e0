namespace Sharpvisor.Machine.Buses;

/// <summary>
/// Maps address ranges to devices. Registration is rare and copies the table; lookups are lock-free binary searches
/// over an immutable, sorted array, so vCPU threads never contend here.
/// </summary>
public class Bus(string name)
{
    public readonly record struct Mapping(ulong Base, ulong Length, IBusDevice Device, string DeviceName)
    {
        public ulong End => Base + Length;
    }

    private readonly object _registrationLock = new();
    private Mapping[] _mappings = [];

    public string Name { get; } = name;
    public IReadOnlyList<Mapping> Mappings => _mappings;

    /// <summary>Accesses that reached no device, counted so a test or a report can see a guest poking at nothing.</summary>
    public long UnclaimedAccesses => Interlocked.Read(ref _unclaimed);
    private long _unclaimed;

    public void Register(ulong @base, ulong length, IBusDevice device, string? deviceName = null)
    {
        if (length == 0) throw new ArgumentOutOfRangeException(nameof(length), "a bus range cannot be empty");
        if (@base + length < @base) throw new ArgumentOutOfRangeException(nameof(length), "the range wraps around");
        deviceName ??= device.GetType().Name;
        lock (_registrationLock)
        {
            foreach (var m in _mappings)
                if (@base < m.End && m.Base < @base + length)
                    throw new BusRangeConflictException(
                        $"{Name}: {deviceName} wants 0x{@base:x}..0x{@base + length - 1:x}, which overlaps {m.DeviceName} at 0x{m.Base:x}..0x{m.End - 1:x}");
            var next = new Mapping[_mappings.Length + 1];
            _mappings.CopyTo(next, 0);
            next[^1] = new Mapping(@base, length, device, deviceName);
            Array.Sort(next, (a, b) => a.Base.CompareTo(b.Base));
            _mappings = next;
        }
    }

    public void Unregister(IBusDevice device)
    {
        lock (_registrationLock)
            _mappings = _mappings.Where(m => !ReferenceEquals(m.Device, device)).ToArray();
    }

    /// <summary>The mapping that holds <paramref name="address"/>, if any.</summary>
    public bool TryFind(ulong address, out Mapping mapping)
    {
        var table = _mappings;
        int lo = 0, hi = table.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            ref readonly var m = ref table[mid];
            if (address < m.Base) hi = mid - 1;
            else if (address >= m.End) lo = mid + 1;
            else { mapping = m; return true; }
        }
        mapping = default;
        return false;
    }

    /// <summary>Reads from whatever device is at <paramref name="address"/>; nothing there reads as all ones, as on real buses.</summary>
    public bool Read(ulong address, Span<byte> data)
    {
        if (TryFind(address, out var m))
        {
            m.Device.Read(address - m.Base, data);
            return true;
        }
        data.Fill(0xFF);
        Interlocked.Increment(ref _unclaimed);
        return false;
    }

    /// <summary>Writes to whatever device is at <paramref name="address"/>; a write to nothing is dropped.</summary>
    public bool Write(ulong address, ReadOnlySpan<byte> data)
    {
        if (TryFind(address, out var m))
        {
            m.Device.Write(address - m.Base, data);
            return true;
        }
        Interlocked.Increment(ref _unclaimed);
        return false;
    }
}
