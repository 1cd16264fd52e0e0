using System.Buffers.Binary;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// A qcow2 image (versions 2 and 3): guest offset -> L1 entry -> L2 table -> host cluster, unallocated clusters from
/// the backing file (or zeros), v3 zero clusters, compressed clusters read. A write to a cluster that is not ours alone
/// allocates one (copying the rest of the cluster from what the guest saw there). Ordering, so a crash leaves no
/// reference to a cluster that was not written: data and refcounts are written at once; L2 tables are written back
/// after an fdatasync, L1 after another; clusters are freed (refcount to 0) only once the tables that dropped them
/// are on disk. Refcounts stay exact, so the dirty bit and lazy refcounts are never used; a crash can only leak
/// clusters, and the next writable open gives them back (<see cref="Qcow2LeakRepair"/>).
/// An L1 entry must point at a known L2 table, and an L2 entry's host clusters must hold no metadata before they are
/// read, written in place or freed (see <see cref="Qcow2MetadataMap"/>), read-only images included.
/// </summary>
public sealed class Qcow2BlockBackend : IBlockBackend
{
    public const int MaxBackingDepth = 16;
    private const ulong OffsetMask = 0x00FF_FFFF_FFFF_FE00, Copied = 1UL << 63, CompressedFlag = 1UL << 62, ZeroFlag = 1;
    private const int L2CacheSlots = 16, MaxPendingFrees = 4096;

    private readonly Qcow2File _file;
    private readonly int _clusterBits;
    private readonly ulong _clusterSize;
    private readonly byte[] _l1;                     // big-endian, as on disk
    private readonly Qcow2TableCache _l2;
    private readonly Qcow2Refcounts _refcounts;      // read-only images only read it, to know where its blocks are
    private readonly Qcow2MetadataMap _metadata;
    private readonly Qcow2CompressedCluster _compressed;
    private readonly ulong _fileEnd;                 // the file's length at open, in whole clusters
    private readonly byte[]? _cow;
    private byte[]? _zeros;
    private Qcow2DeflateCompressor? _compressor;     // images written compressed (image convert -c) only
    private Qcow2CompressedPacker? _packer;
    private byte[]? _compressedOut;
    private readonly List<ulong> _pendingFrees = [];
    private readonly Lock _lock = new();
    private bool _l1Dirty;
    private bool _disposed;

    private Qcow2BlockBackend(Qcow2File file, Qcow2Header header, ulong fileLength, bool readOnly, string path, int depth)
    {
        _file = file;
        Header = header;
        ReadOnly = readOnly;
        _clusterBits = header.ClusterBits;
        _clusterSize = header.ClusterSize;
        _fileEnd = (fileLength + _clusterSize - 1) & ~(_clusterSize - 1);
        _l1 = new byte[header.L1Size * 8UL];
        file.Read(_l1, (long)header.L1TableOffset);
        for (uint i = 0; i < header.L1Size; i++)
        {
            ulong l2 = L1Entry(i) & OffsetMask;
            if (l2 != 0 && (l2 % _clusterSize != 0 || l2 > _fileEnd - _clusterSize))
                throw new Qcow2FormatException("L1 entry", $"{i}: L2 table at 0x{l2:x} is not an aligned cluster inside the file");
        }
        _compressed = new Qcow2CompressedCluster(file, header);
        _l2 = new Qcow2TableCache(file, L2CacheSlots, (int)_clusterSize, Sync);
        // Header and tables first, so an L1 entry pointing at one of them keeps that kind and is refused when used.
        _metadata = new Qcow2MetadataMap(_clusterBits);
        _metadata.Add(0, _clusterSize, Qcow2Metadata.Header);
        _metadata.Add(header.L1TableOffset, header.L1Size * 8UL, Qcow2Metadata.L1Table);
        _refcounts = new Qcow2Refcounts(file, header, _fileEnd, _metadata) { TableMoved = WriteRefcountTableLocation };
        for (uint i = 0; i < header.L1Size; i++)
        {
            ulong l2 = L1Entry(i) & OffsetMask;
            if (l2 != 0) _metadata.Add(l2, _clusterSize, Qcow2Metadata.L2Table);
        }
        if (!readOnly)
        {
            _cow = new byte[_clusterSize];
            LeakedClustersReclaimed = Qcow2LeakRepair.Run(file, header, _l1, _refcounts, _metadata, _compressed);
        }
        if (header.BackingFile is { } name)
        {
            if (depth >= MaxBackingDepth) throw new Qcow2FormatException("backing_file", $"the chain is deeper than {MaxBackingDepth} images");
            string backingPath = System.IO.Path.IsPathRooted(name) ? name
                : System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? "/", name);
            Backing = BlockBackendOpener.Open(backingPath, readOnly: true, header.BackingFormat, depth + 1);
        }
    }

    /// <summary>Opens an image whose magic says qcow2; a backing file is opened read-only, relative to the image's folder.</summary>
    /// <param name="observer">Sees each write and fdatasync to this image's file first (crash-injection tests).</param>
    public static Qcow2BlockBackend Open(string path, bool readOnly, int depth = 0, IQcow2WriteObserver? observer = null)
    {
        var file = new Qcow2File(File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.Read), observer);
        try
        {
            ulong length = (ulong)file.Length;
            var first = new byte[(int)Math.Min(length, 1UL << Qcow2Header.MaxClusterBits)];
            file.Read(first, 0);
            var header = Qcow2Header.Parse(first, length);
            if (!readOnly) CheckWritable(header);
            var image = new Qcow2BlockBackend(file, header, length, readOnly, path, depth);
            if (!readOnly && header.AutoclearFeatures != 0)
                file.Write(new byte[8], Qcow2Header.AutoclearFeaturesField);   // we keep no bitmaps up to date
            return image;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static void CheckWritable(Qcow2Header header)
    {
        if ((header.IncompatibleFeatures & Qcow2Header.IncompatibleDirty) != 0)
            throw new Qcow2FormatException("incompatible_features", "the dirty bit is set (refcounts may be stale): run qemu-img check -r all first");
        if ((header.IncompatibleFeatures & Qcow2Header.IncompatibleCorrupt) != 0)
            throw new Qcow2FormatException("incompatible_features", "the image is marked corrupt: it opens read-only only");
        if (header.SnapshotCount != 0)
            throw new Qcow2FormatException("nb_snapshots", "images with internal snapshots open read-only only");
    }

    public Qcow2Header Header { get; }

    /// <summary>Clusters a writable open found counted but unused (a crash's leaks) and gave back.</summary>
    public int LeakedClustersReclaimed { get; }
    public IBlockBackend? Backing { get; }
    public string Format => "qcow2";
    public ulong VirtualSize => Header.VirtualSize;
    public bool ReadOnly { get; }

    private ulong FileEnd => _refcounts.EndOffset;

    public void Read(Span<byte> buffer, ulong offset)
    {
        lock (_lock)
        {
            CheckRange(offset, (ulong)buffer.Length);
            while (!buffer.IsEmpty)
            {
                ulong inCluster = offset & (_clusterSize - 1);
                int n = (int)Math.Min(_clusterSize - inCluster, (ulong)buffer.Length);
                ReadFromEntry(LookUp(offset, out _, out _), buffer[..n], offset);
                buffer = buffer[n..];
                offset += (ulong)n;
            }
        }
    }

    public void Write(ReadOnlySpan<byte> data, ulong offset)
    {
        lock (_lock)
        {
            ThrowIfReadOnly();
            CheckRange(offset, (ulong)data.Length);
            while (!data.IsEmpty)
            {
                ulong inCluster = offset & (_clusterSize - 1);
                int n = (int)Math.Min(_clusterSize - inCluster, (ulong)data.Length);
                WriteCluster(data[..n], offset);
                data = data[n..];
                offset += (ulong)n;
            }
        }
    }

    public void Flush()
    {
        lock (_lock)
        {
            if (!ReadOnly) FlushLocked();
        }
    }

    public void Discard(ulong offset, ulong length)
    {
        lock (_lock)
        {
            ThrowIfReadOnly();
            CheckRange(offset, length);
            for (ulong at = AlignUp(offset); at + _clusterSize <= offset + length; at += _clusterSize)
            {
                ulong entry = LookUp(at, out var table, out int slot);
                if (table is null || (entry & ~(Copied | ZeroFlag)) == 0) continue;
                CheckNotMetadata(entry, at);
                SetL2(table, at, slot, 0);
                FreeLater(entry);
            }
        }
    }

    public void WriteZeroes(ulong offset, ulong length)
    {
        lock (_lock)
        {
            ThrowIfReadOnly();
            CheckRange(offset, length);
            ulong end = offset + length;
            while (offset < end)
            {
                ulong inCluster = offset & (_clusterSize - 1);
                ulong n = Math.Min(_clusterSize - inCluster, end - offset);
                if (n == _clusterSize) ZeroCluster(offset);
                else WriteCluster((_zeros ??= new byte[_clusterSize]).AsSpan(0, (int)n), offset);
                offset += n;
            }
        }
    }

    /// <summary>
    /// Writes one cluster-aligned cluster deflate-compressed (the disk's last cluster may be short: it is padded with
    /// zeros, as qemu-img does); a cluster that does not shrink is written as usual. Deflate images only.
    /// </summary>
    public void WriteCompressed(ReadOnlySpan<byte> data, ulong offset)
    {
        lock (_lock)
        {
            ThrowIfReadOnly();
            CheckRange(offset, (ulong)data.Length);
            if ((offset & (_clusterSize - 1)) != 0 || ((ulong)data.Length != _clusterSize && offset + (ulong)data.Length != VirtualSize))
                throw new ArgumentException("a compressed write is one whole, aligned cluster", nameof(data));
            if (Header.CompressionType != 0) throw new IOException("qcow2: only deflate images (compression type 0) are written compressed");
            var cluster = _cow!;
            data.CopyTo(cluster);
            cluster.AsSpan(data.Length).Clear();
            _compressor ??= new Qcow2DeflateCompressor();
            _compressedOut ??= new byte[_clusterSize];
            int length = _compressor.Compress(cluster, _compressedOut.AsSpan(0, (int)_clusterSize - 1));
            if (length < 0)
            {
                WriteCluster(data, offset);
                return;
            }
            var table = L2ForWrite(offset, out int slot);
            ulong entry = ReadL2(table, slot);
            CheckNotMetadata(entry, offset);
            var (host, newCluster) = (_packer ??= new Qcow2CompressedPacker(_refcounts, _clusterSize)).Place(length);
            if (newCluster)
            {
                _compressedOut.AsSpan(length).Clear();   // the file then covers the whole cluster
                _file.Write(_compressedOut, (long)host);
            }
            else
            {
                _file.Write(_compressedOut.AsSpan(0, length), (long)host);
            }
            table = L2ForWrite(offset, out slot);
            SetL2(table, offset, slot, _compressed.Entry(host, length));
            FreeLater(entry);
        }
    }

    /// <summary>Whether this image's own tables map the cluster holding <paramref name="offset"/> (data, compressed or
    /// the zero flag), so its backing file does not show through there.</summary>
    public bool MapsCluster(ulong offset)
    {
        lock (_lock)
        {
            CheckRange(offset, 0);
            ulong entry = LookUp(offset, out _, out _);
            return (entry & ~Copied) != 0;
        }
    }

    /// <summary>
    /// Names another backing file (or none) in the header, durably; what the guest reads through clusters this image
    /// does not map changes with it, so the caller has made them the same first (<see cref="Qcow2BackingMerge"/>).
    /// Takes effect at the next open.
    /// </summary>
    public void SetBackingFile(string? name, string? format)
    {
        lock (_lock)
        {
            ThrowIfReadOnly();
            FlushLocked();
            var first = new byte[_clusterSize];
            _file.Read(first, 0);
            _file.Write(Qcow2BackingFileField.Rewrite(first, Header, name, format), 0);
            Sync();
        }
    }

    /// <summary>A whole cluster to zeros: the v3 zero flag, or unallocated where nothing shows through, or written zeros.</summary>
    private void ZeroCluster(ulong offset)
    {
        ulong entry = LookUp(offset, out var table, out int slot);
        CheckNotMetadata(entry, offset);
        bool v3 = Header.Version >= 3;
        if (Backing is null && (entry & ~Copied) == 0) return;                     // unallocated: reads zeros already
        if (v3 && (entry & ~Copied) == ZeroFlag) return;
        if (!v3 && Backing is not null)
        {
            WriteCluster(_zeros ??= new byte[_clusterSize], offset);
            return;
        }
        if (table is null) table = L2ForWrite(offset, out slot);
        SetL2(table, offset, slot, v3 ? ZeroFlag : 0);
        FreeLater(entry);
    }

    private void WriteCluster(ReadOnlySpan<byte> data, ulong offset)
    {
        var table = L2ForWrite(offset, out int slot);
        ulong entry = ReadL2(table, slot);
        CheckNotMetadata(entry, offset);      // written in place when ours, else freed: either way not metadata
        ulong host = entry & OffsetMask;
        ulong inCluster = offset & (_clusterSize - 1);
        bool ours = (entry & Copied) != 0 && (entry & CompressedFlag) == 0 && host != 0
            && !(Header.Version >= 3 && (entry & ZeroFlag) != 0);
        if (ours)
        {
            CheckDataCluster(host);
            _file.Write(data, (long)(host + inCluster));
            return;
        }
        ulong fresh = _refcounts.Allocate();
        if ((ulong)data.Length == _clusterSize)
        {
            _file.Write(data, (long)fresh);
        }
        else
        {
            // Copy-on-write: the rest of the cluster as the guest saw it (backing file, zeros, compressed, shared).
            ulong clusterStart = offset - inCluster;
            ReadFromEntry(entry, _cow, clusterStart);
            data.CopyTo(_cow.AsSpan((int)inCluster));
            _file.Write(_cow, (long)fresh);
        }
        table = L2ForWrite(offset, out slot);      // the same table, still cached (nothing above touches L2 tables)
        SetL2(table, offset, slot, fresh | Copied);
        FreeLater(entry);
    }

    private void ReadFromEntry(ulong entry, Span<byte> into, ulong guestOffset)
    {
        ulong inCluster = guestOffset & (_clusterSize - 1);
        CheckNotMetadata(entry, guestOffset);      // a hostile entry must not hand the guest our tables as its data
        if ((entry & CompressedFlag) != 0)
        {
            _compressed.Read(entry, FileEnd).Slice((int)inCluster, into.Length).CopyTo(into);
            return;
        }
        if (Header.Version >= 3 && (entry & ZeroFlag) != 0)
        {
            into.Clear();
            return;
        }
        ulong host = entry & OffsetMask;
        if (host == 0)
        {
            ReadBacking(into, guestOffset);
            return;
        }
        CheckDataCluster(host);
        int done = 0;
        while (done < into.Length)
        {
            int got = _file.Read(into[done..], (long)(host + inCluster) + done);
            if (got == 0)
            {
                into[done..].Clear();     // a last cluster the file holds only in part
                return;
            }
            done += got;
        }
    }

    private void ReadBacking(Span<byte> into, ulong guestOffset)
    {
        ulong size = Backing?.VirtualSize ?? 0;
        int n = guestOffset >= size ? 0 : (int)Math.Min((ulong)into.Length, size - guestOffset);
        if (n > 0) Backing!.Read(into[..n], guestOffset);
        into[n..].Clear();
    }

    /// <summary>The L2 entry for a guest offset (0 where the L1 entry is empty, with <paramref name="table"/> null).</summary>
    private ulong LookUp(ulong guestOffset, out byte[]? table, out int slot)
    {
        slot = (int)((guestOffset >> _clusterBits) & (Header.L2Entries - 1));
        ulong l2 = L1Entry(guestOffset >> (2 * _clusterBits - 3)) & OffsetMask;
        if (l2 == 0)
        {
            table = null;
            return 0;
        }
        CheckL2Table(l2, guestOffset);
        table = _l2.Get(l2);
        return ReadL2(table, slot);
    }

    private byte[] L2ForWrite(ulong guestOffset, out int slot)
    {
        ulong index = guestOffset >> (2 * _clusterBits - 3);
        slot = (int)((guestOffset >> _clusterBits) & (Header.L2Entries - 1));
        ulong l2 = L1Entry(index) & OffsetMask;
        if (l2 != 0)
        {
            CheckL2Table(l2, guestOffset);
            return _l2.Get(l2);
        }
        l2 = _refcounts.Allocate();
        _metadata.Add(l2, _clusterSize, Qcow2Metadata.L2Table);
        var table = _l2.Get(l2, fresh: true);
        _l2.MarkDirty(l2);
        BinaryPrimitives.WriteUInt64BigEndian(_l1.AsSpan((int)(index * 8)), l2 | Copied);
        _l1Dirty = true;
        return table;
    }

    private ulong ReadL2(byte[] table, int slot) => BinaryPrimitives.ReadUInt64BigEndian(table.AsSpan(slot * 8));

    private void SetL2(byte[] table, ulong guestOffset, int slot, ulong entry)
    {
        BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan(slot * 8), entry);
        _l2.MarkDirty(L1Entry(guestOffset >> (2 * _clusterBits - 3)) & OffsetMask);
    }

    private ulong L1Entry(ulong index) => BinaryPrimitives.ReadUInt64BigEndian(_l1.AsSpan((int)(index * 8)));

    private void CheckDataCluster(ulong host)
    {
        if (host % _clusterSize != 0) throw new Qcow2FormatException("L2 entry", $"data cluster 0x{host:x} is not cluster-aligned");
        if (host > FileEnd - _clusterSize) throw new Qcow2FormatException("L2 entry", $"data cluster 0x{host:x} is beyond the end of the file");
    }

    /// <summary>An L2 table offset from L1 must be a cluster we know as an L2 table, not other metadata.</summary>
    private void CheckL2Table(ulong l2, ulong guestOffset)
    {
        var kind = _metadata.At(l2);
        if (kind != Qcow2Metadata.L2Table)
            throw new Qcow2FormatException("L1 entry", $"the L1 entry for guest offset 0x{guestOffset & ~(_clusterSize - 1):x} points at {Qcow2MetadataMap.Describe(kind)} (0x{l2:x})");
    }

    /// <summary>
    /// Before an L2 entry's host clusters are read, written in place or freed: they must hold no metadata, or the guest
    /// would read the image's own tables as its data, or a write (or the reuse of a freed cluster) overwrite them.
    /// </summary>
    private void CheckNotMetadata(ulong entry, ulong guestOffset)
    {
        ulong start, end;
        if ((entry & CompressedFlag) != 0)
        {
            var (_, sector, length) = _compressed.Range(entry);
            (start, end) = (sector, sector + length);
        }
        else
        {
            start = entry & OffsetMask;
            if (start == 0) return;
            end = start + 1;
        }
        for (ulong at = start & ~(_clusterSize - 1); at < end; at += _clusterSize)
        {
            var kind = _metadata.At(at);
            if (kind != Qcow2Metadata.None)
                throw new Qcow2FormatException("L2 entry", $"the L2 entry for guest offset 0x{guestOffset & ~(_clusterSize - 1):x} points at {Qcow2MetadataMap.Describe(kind)} (0x{at:x})");
        }
    }

    /// <summary>Host clusters a dropped entry held; released once the tables without it are on disk.</summary>
    private void FreeLater(ulong entry)
    {
        if ((entry & CompressedFlag) == 0 && (entry & OffsetMask) == 0) return;
        _pendingFrees.Add(entry);
        if (_pendingFrees.Count >= MaxPendingFrees) FlushLocked();
    }

    private void FlushLocked()
    {
        _l2.WriteBackDirty();                  // after an fdatasync: the data and refcounts they point to
        if (_l1Dirty)
        {
            Sync();
            _file.Write(_l1, (long)Header.L1TableOffset);
            _l1Dirty = false;
        }
        Sync();
        if (_pendingFrees.Count == 0) return;
        foreach (ulong entry in _pendingFrees)
        {
            if ((entry & CompressedFlag) != 0)
            {
                var (_, start, length) = _compressed.Range(entry);
                for (ulong c = start >> _clusterBits; c <= (start + length - 1) >> _clusterBits; c++)
                    _refcounts.Release(c << _clusterBits);
            }
            else
            {
                _refcounts.Release(entry & OffsetMask);
            }
        }
        _pendingFrees.Clear();
        _compressed.Forget();
        _packer?.Forget();
        Sync();
    }

    private void WriteRefcountTableLocation(ulong offset, uint clusters)
    {
        Span<byte> field = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64BigEndian(field, offset);
        BinaryPrimitives.WriteUInt32BigEndian(field[8..], clusters);
        _file.Write(field, Qcow2Header.RefcountTableOffsetField);
        Sync();
    }

    private void Sync()
    {
        _file.Sync();
    }

    private ulong AlignUp(ulong offset) => (offset + _clusterSize - 1) & ~(_clusterSize - 1);

    private void CheckRange(ulong offset, ulong length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (offset > VirtualSize || length > VirtualSize - offset)
            throw new IOException($"qcow2: 0x{length:x} bytes at 0x{offset:x} reach past the disk's end (0x{VirtualSize:x})");
    }

    private void ThrowIfReadOnly()
    {
        if (ReadOnly) throw new IOException("the disk is read-only");
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            try
            {
                if (!ReadOnly) FlushLocked();
            }
            finally
            {
                _disposed = true;
                _file.Dispose();
                Backing?.Dispose();
                _compressor?.Dispose();
            }
        }
    }
}
