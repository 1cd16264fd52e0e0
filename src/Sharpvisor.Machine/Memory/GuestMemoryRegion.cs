using Sharpvisor.Machine.Native;

namespace Sharpvisor.Machine.Memory;

/// <summary>
/// One contiguous block of guest RAM backed by an anonymous host mapping. The mapping is made with
/// MAP_NORESERVE, so host memory is committed only for the pages the guest (or the VMM) touches.
/// </summary>
public sealed class GuestMemoryRegion : IDisposable
{
    public const int PageSize = 4096;

    public int Slot { get; }
    public ulong GuestPhysicalAddress { get; }
    public ulong Size { get; }
    public nint HostAddress { get; private set; }
    public ulong End => GuestPhysicalAddress + Size;

    /// <summary>Pages written by the VMM itself (device DMA, loaders) while tracking is on; engines track guest writes.</summary>
    public DirtyPageBitmap? VmmDirtyPages { get; private set; }

    public GuestMemoryRegion(int slot, ulong guestPhysicalAddress, ulong size)
    {
        if (size == 0 || size % PageSize != 0 || guestPhysicalAddress % PageSize != 0)
            throw new GuestMemoryException($"memory region 0x{guestPhysicalAddress:x}+0x{size:x} is not page-aligned");
        Slot = slot;
        GuestPhysicalAddress = guestPhysicalAddress;
        Size = size;
        HostAddress = Libc.mmap(0, (nuint)size, Libc.ProtRead | Libc.ProtWrite,
            Libc.MapPrivate | Libc.MapAnonymous | Libc.MapNoReserve, -1, 0);
        if (HostAddress == Libc.MapFailed)
            throw new GuestMemoryException($"cannot map {size >> 20} MiB of guest memory: {Libc.LastErrorText()}");
    }

    public bool Contains(ulong gpa, ulong length) =>
        gpa >= GuestPhysicalAddress && length <= Size && gpa - GuestPhysicalAddress <= Size - length;

    /// <summary>A span over [gpa, gpa+length) of this region; the caller has checked <see cref="Contains"/>.</summary>
    public unsafe Span<byte> SpanAt(ulong gpa, int length) =>
        // Safe: the caller checked Contains(gpa, length), so the span stays inside this mapping, which lives until Dispose.
        new((void*)(HostAddress + (nint)(gpa - GuestPhysicalAddress)), length);

    public void StartVmmDirtyTracking() => VmmDirtyPages = new DirtyPageBitmap(Size / PageSize);
    public void StopVmmDirtyTracking() => VmmDirtyPages = null;

    /// <summary>Gives the pages of [gpa, gpa+length) back to the host; they read as zero afterwards.</summary>
    public void Discard(ulong gpa, ulong length)
    {
        if (Libc.madvise(HostAddress + (nint)(gpa - GuestPhysicalAddress), (nuint)length, Libc.MadvDontNeed) != 0)
            throw new GuestMemoryException($"madvise(DONTNEED) failed: {Libc.LastErrorText()}");
    }

    /// <summary>
    /// Lets the kernel's KSM merge this region's pages with identical ones (madvise MADV_MERGEABLE). Call again after
    /// anything maps over the region (a snapshot's memory file): the advice belongs to the mapping.
    /// </summary>
    public void MarkMergeable()
    {
        if (Libc.madvise(HostAddress, (nuint)Size, Libc.MadvMergeable) != 0)
            throw new GuestMemoryException($"madvise(MERGEABLE) of {Size >> 20} MiB of guest memory failed: {Libc.LastErrorText()} " +
                                           "(is the host kernel built with CONFIG_KSM?)");
    }

    /// <summary>
    /// Bytes of this region present in host memory (mincore): what the guest has touched and not given back. For a VM
    /// restored from a snapshot, pages of the memory file still in the page cache count as well.
    /// </summary>
    public unsafe ulong ResidentBytes()
    {
        const int PagesPerCall = 16384;
        byte* residency = stackalloc byte[PagesPerCall];
        ulong pages = Size / PageSize, resident = 0;
        for (ulong first = 0; first < pages; first += PagesPerCall)
        {
            int count = (int)Math.Min(PagesPerCall, pages - first);
            if (Libc.mincore(HostAddress + (nint)(first * PageSize), (nuint)count * PageSize, residency) != 0)
                throw new GuestMemoryException($"mincore failed: {Libc.LastErrorText()}");
            for (int i = 0; i < count; i++) resident += (ulong)(residency[i] & 1);
        }
        return resident * PageSize;
    }

    public void Dispose()
    {
        if (HostAddress != 0)
        {
            Libc.munmap(HostAddress, (nuint)Size);
            HostAddress = 0;
        }
    }
}
