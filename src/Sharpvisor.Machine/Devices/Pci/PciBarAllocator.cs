namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>
/// Hands out naturally aligned addresses for memory BARs inside the 32-bit PCI MMIO window that the DSDT's host bridge
/// _CRS declares, as firmware does before the OS starts, so Linux finds every BAR already assigned inside its root
/// bus window and keeps it.
/// </summary>
public sealed class PciBarAllocator
{
    private readonly Lock _lock = new();
    private ulong _next;

    /// <param name="windowStart">First address of the window.</param>
    /// <param name="windowEnd">Exclusive end of the window (at most 4 GiB).</param>
    public PciBarAllocator(ulong windowStart, ulong windowEnd)
    {
        if (windowEnd <= windowStart || windowEnd > 0x1_0000_0000)
            throw new ArgumentException($"the PCI MMIO window 0x{windowStart:x}-0x{windowEnd:x} is empty or crosses 4 GiB");
        WindowStart = windowStart;
        WindowEnd = windowEnd;
        _next = windowStart;
    }

    public ulong WindowStart { get; }
    public ulong WindowEnd { get; }

    /// <summary>The next free address aligned to <paramref name="size"/> (a power of two).</summary>
    public ulong Allocate(ulong size)
    {
        if (size == 0 || (size & (size - 1)) != 0)
            throw new ArgumentException($"BAR size 0x{size:x} is not a power of two", nameof(size));
        lock (_lock)
        {
            ulong address = (_next + size - 1) & ~(size - 1);
            if (address < _next || address + size > WindowEnd)
                throw new InvalidOperationException(
                    $"no room for a 0x{size:x}-byte BAR in the PCI window 0x{WindowStart:x}-0x{WindowEnd:x}");
            _next = address + size;
            return address;
        }
    }

    /// <summary>Declares BAR <paramref name="index"/> of <paramref name="config"/>, gives it an address and turns memory decoding on.</summary>
    public ulong AssignMemoryBar(PciConfigSpace config, int index, ulong size, bool prefetchable = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.DefineBar(index, PciBarKind.Memory32, size, prefetchable);
        ulong address = Allocate(size);
        config.Write(PciConfigSpace.Bar0Offset + 4 * index, 4, (uint)address);
        config.Write(PciConfigSpace.CommandOffset, 2, (uint)(config.Command | PciConfigSpace.CommandMemorySpace));
        return address;
    }
}
