namespace Sharpvisor.Host.Confinement;

/// <summary>
/// A VMM's memory limit: all of guest RAM (the guest may touch every page) plus what the VMM process itself takes
/// (runtime, JIT and emulator caches, device buffers, page tables, the page cache its kernel/initrd reads cause).
/// </summary>
public static class VmmMemoryBudget
{
    /// <summary>
    /// The VMM's own share. Measured 2026-12-07, default guest idle at its shell on the emulator (128 and 256 MiB
    /// guests alike): VmRSS less the guest pages it holds = 90-92 MiB, of which the cgroup was charged 55-57 MiB
    /// (the runtime's shared libraries, 37 MiB, were already in the page cache; on a fresh host they are charged
    /// too, as is the page cache of reading the kernel and initrd, 15 MiB): about 110 MiB at worst. 256 MiB leaves
    /// more than twice that for a busy guest (decoded-code caches, the GC heap, I/O buffers); page cache from disk
    /// I/O is reclaimed at the limit before anything is killed.
    /// </summary>
    public const long OverheadBytes = 256L << 20;

    /// <summary>The cgroup memory limit of a VMM whose guest has <paramref name="guestMemoryBytes"/>: the guest's RAM and
    /// <paramref name="overheadBytes"/> (default <see cref="OverheadBytes"/>; the daemon's --vmm-memory-overhead).</summary>
    public static long LimitFor(long guestMemoryBytes, long overheadBytes = OverheadBytes)
    {
        if (guestMemoryBytes <= 0) throw new ArgumentOutOfRangeException(nameof(guestMemoryBytes), guestMemoryBytes, "guest memory must be positive");
        if (overheadBytes < 0) throw new ArgumentOutOfRangeException(nameof(overheadBytes), overheadBytes, "the VMM's overhead cannot be negative");
        return guestMemoryBytes + overheadBytes;
    }
}
