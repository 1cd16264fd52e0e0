using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// Writes guest RAM to a sparse memory file (only pages the guest touched and that are not all zero) and maps such a
/// file back privately over guest RAM, so a restored VM reads pages from the file as it touches them and its writes
/// stay its own (copy on write; the file never changes).
/// </summary>
/// <remarks>
/// Touched pages are found in /proc/self/pagemap (present or swapped out) for anonymous RAM; for RAM that is itself a
/// private mapping of an earlier snapshot, the pages that snapshot stored count as touched too (pagemap shows only
/// those faulted in since). Call it with the vCPUs stopped.
/// </remarks>
public static class GuestMemoryImage
{
    private const int PageSize = GuestMemoryRegion.PageSize;
    private const ulong PagemapPresent = 1UL << 63, PagemapSwapped = 1UL << 62;
    private const ulong MaxWritePages = 256; // 1 MiB per write

    /// <summary>
    /// Writes the image to <paramref name="path"/> (created; the caller renames it into place) and fsyncs it.
    /// <paramref name="alreadyMapped"/> gives, per region slot, the runs of a snapshot the region is mapped from.
    /// </summary>
    public static MemoryImage Write(GuestMemory memory, string path, string fileName, IReadOnlyDictionary<int, ulong[]>? alreadyMapped = null)
    {
        var regions = new List<MemoryImageRegion>();
        ulong fileOffset = 0;
        foreach (var region in memory.Regions)
        {
            regions.Add(new MemoryImageRegion
            {
                Slot = region.Slot, GuestPhysicalAddress = region.GuestPhysicalAddress, Size = region.Size,
                FileOffset = fileOffset, Runs = StoredRuns(region, alreadyMapped?.GetValueOrDefault(region.Slot)),
            });
            fileOffset += region.Size;
        }
        // The digest on a thread of its own while this one writes: each takes about as long as the other (SHA-256 at
        // 1.4 GB/s with the CPU's SHA instructions, page-cache writes at 0.9 GB/s here), and the VM is paused, so the
        // pages cannot change between the two reads.
        var digest = Task.Factory.StartNew(() => Digest(memory, regions), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            using var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
            for (int r = 0; r < regions.Count; r++)
            {
                var (saved, region) = (regions[r], memory.Regions[r]);
                // A run is contiguous in the mapping and in the file: one write per MaxWritePages of it.
                for (int i = 0; i + 1 < saved.Runs.Length; i += 2)
                    for (ulong done = 0; done < saved.Runs[i + 1]; done += MaxWritePages)
                    {
                        ulong first = saved.Runs[i] + done, count = Math.Min(MaxWritePages, saved.Runs[i + 1] - done);
                        RandomAccess.Write(file, region.SpanAt(region.GuestPhysicalAddress + first * PageSize, (int)(count * PageSize)),
                            (long)(saved.FileOffset + first * PageSize));
                    }
            }
            RandomAccess.SetLength(file, (long)fileOffset);
            RandomAccess.FlushToDisk(file);
        }
        finally
        {
            // Not before it is done reading guest RAM, even when writing failed: the caller may let the VM run again.
            ((IAsyncResult)digest).AsyncWaitHandle.WaitOne();
        }
        return new MemoryImage { FileName = fileName, FileSize = fileOffset, Regions = regions.ToArray(), Sha256 = digest.GetAwaiter().GetResult() };
    }

    /// <summary>
    /// The runs (first page, count) to store: pages ever touched (or stored by the snapshot the region is mapped
    /// from, <paramref name="mappedRuns"/>) that are not all zero.
    /// </summary>
    private static ulong[] StoredRuns(GuestMemoryRegion region, ulong[]? mappedRuns)
    {
        var touched = TouchedPages(region);
        if (mappedRuns is not null)
            for (int i = 0; i + 1 < mappedRuns.Length; i += 2) touched.MarkRange(mappedRuns[i], mappedRuns[i + 1]);
        var runs = new List<ulong>();
        ulong pages = region.Size / PageSize, runStart = 0, runLength = 0;
        for (ulong page = 0; page < pages; page++)
        {
            if (touched.IsDirty(page) && !IsZero(region, page))
            {
                if (runLength == 0) runStart = page;
                runLength++;
                continue;
            }
            if (runLength > 0) runs.AddRange([runStart, runLength]);
            runLength = 0;
        }
        if (runLength > 0) runs.AddRange([runStart, runLength]);
        return runs.ToArray();
    }

    /// <summary>The SHA-256 over every stored page with its slot and number, in file order (what <see cref="Verify"/> recomputes).</summary>
    private static string Digest(GuestMemory memory, List<MemoryImageRegion> regions)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int r = 0; r < regions.Count; r++)
        {
            var (saved, region) = (regions[r], memory.Regions[r]);
            for (int i = 0; i + 1 < saved.Runs.Length; i += 2)
                for (ulong page = saved.Runs[i]; page < saved.Runs[i] + saved.Runs[i + 1]; page++)
                    AddToHash(hash, region.Slot, page, region.SpanAt(region.GuestPhysicalAddress + page * PageSize, PageSize));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// Checks the memory file against <paramref name="image"/>: its size, and (when <paramref name="contents"/>) the
    /// SHA-256 of every stored page, which reads the stored pages once. Throws <see cref="SnapshotException"/>.
    /// </summary>
    public static void Verify(string path, MemoryImage image, bool contents)
    {
        if (!File.Exists(path)) throw new SnapshotException($"the snapshot's memory file {path} is missing");
        long length = new FileInfo(path).Length;
        if ((ulong)length != image.FileSize)
            throw new SnapshotException($"the snapshot's memory file {path} is truncated or damaged: {length} bytes, expected {image.FileSize}");
        if (!contents) return;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        var buffer = new byte[PageSize * 256];
        foreach (var region in image.Regions)
            for (int i = 0; i + 1 < region.Runs.Length; i += 2)
            {
                ulong first = region.Runs[i], count = region.Runs[i + 1];
                for (ulong done = 0; done < count;)
                {
                    int batch = (int)Math.Min(256, count - done);
                    var span = buffer.AsSpan(0, batch * PageSize);
                    int read = RandomAccess.Read(file, span, (long)(region.FileOffset + (first + done) * PageSize));
                    if (read != span.Length) throw new SnapshotException($"the snapshot's memory file {path} is truncated");
                    for (int p = 0; p < batch; p++)
                        AddToHash(hash, region.Slot, first + done + (ulong)p, span.Slice(p * PageSize, PageSize));
                    done += (ulong)batch;
                }
            }
        if (Convert.ToHexStringLower(hash.GetHashAndReset()) != image.Sha256)
            throw new SnapshotException($"the snapshot's memory file {path} is corrupt: its pages do not match the checksum in the state file");
    }

    /// <summary>
    /// Maps the file privately over each region of <paramref name="memory"/> (which must have the image's layout),
    /// replacing the anonymous mapping. Nothing is read now: pages come in from the file when first touched.
    /// </summary>
    public static void MapPrivately(GuestMemory memory, string path, MemoryImage image)
    {
        if (memory.Regions.Count != image.Regions.Length)
            throw new SnapshotException($"the snapshot has {image.Regions.Length} RAM regions, this machine {memory.Regions.Count}");
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        int fd = (int)file.DangerousGetHandle();
        for (int i = 0; i < image.Regions.Length; i++)
        {
            var saved = image.Regions[i];
            var region = memory.Regions[i];
            if (saved.GuestPhysicalAddress != region.GuestPhysicalAddress || saved.Size != region.Size)
                throw new SnapshotException($"RAM region {i} is 0x{saved.GuestPhysicalAddress:x}+0x{saved.Size:x} in the snapshot but 0x{region.GuestPhysicalAddress:x}+0x{region.Size:x} here");
            // MAP_FIXED over the region's own range: the region keeps its host address and unmaps it as usual.
            nint mapped = Libc.mmap(region.HostAddress, (nuint)region.Size, Libc.ProtRead | Libc.ProtWrite,
                Libc.MapPrivate | Libc.MapFixed | Libc.MapNoReserve, fd, (long)saved.FileOffset);
            if (mapped != region.HostAddress)
                throw new SnapshotException($"cannot map the snapshot's memory file over RAM region {i}: {Libc.LastErrorText()}");
        }
    }

    /// <summary>The pages of <paramref name="region"/> that are resident or swapped out: the ones ever touched.</summary>
    public static DirtyPageBitmap TouchedPages(GuestMemoryRegion region)
    {
        ulong pages = region.Size / PageSize;
        var touched = new DirtyPageBitmap(pages);
        using var pagemap = File.OpenHandle("/proc/self/pagemap", FileMode.Open, FileAccess.Read);
        const int Batch = 8192;
        var entries = new byte[Batch * 8];
        ulong firstEntry = (ulong)region.HostAddress / PageSize;
        for (ulong done = 0; done < pages;)
        {
            int count = (int)Math.Min(Batch, pages - done);
            int read = RandomAccess.Read(pagemap, entries.AsSpan(0, count * 8), (long)((firstEntry + done) * 8));
            if (read != count * 8) throw new SnapshotException($"short read from /proc/self/pagemap ({read} of {count * 8} bytes)");
            for (int i = 0; i < count; i++)
            {
                ulong entry = BinaryPrimitives.ReadUInt64LittleEndian(entries.AsSpan(i * 8));
                if ((entry & (PagemapPresent | PagemapSwapped)) != 0) touched.Words[(done + (ulong)i) / 64] |= 1UL << (int)((done + (ulong)i) % 64);
            }
            done += (ulong)count;
        }
        return touched;
    }

    private static bool IsZero(GuestMemoryRegion region, ulong page) =>
        !region.SpanAt(region.GuestPhysicalAddress + page * PageSize, PageSize).ContainsAnyExcept((byte)0);

    private static void AddToHash(IncrementalHash hash, int slot, ulong page, ReadOnlySpan<byte> bytes)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(header, slot);
        BinaryPrimitives.WriteUInt64LittleEndian(header[4..], page);
        hash.AppendData(header);
        hash.AppendData(bytes);
    }
}
