using System.Buffers.Binary;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// The refcount table and blocks, kept exact: every host cluster in use counts its references, so the image never
/// needs a repair. Changes are written through at once; a new refcount block is on disk before the table points to it,
/// and a grown table is complete on disk before the header switches to it. Allocation hands out the lowest free
/// cluster at or after a hint (freed clusters are reused), else one past the end of the file.
/// </summary>
internal sealed class Qcow2Refcounts
{
    private readonly Qcow2File _file;
    private readonly int _clusterBits;
    private readonly ulong _clusterSize;
    private readonly int _order;                  // refcount_order: entries of 1 << order bits
    private readonly ulong _perBlock;             // refcounts in one block
    private readonly Qcow2TableCache _blocks;
    private readonly Qcow2MetadataMap _metadata;
    private readonly byte[] _entry = new byte[8];
    private ulong[] _table;
    private ulong _tableOffset;
    private ulong _freeHint;
    private ulong _inFlight = ulong.MaxValue;     // handed out by Allocate, its count not yet written
    private ulong _end;                           // first cluster index past everything used or reserved

    /// <param name="metadata">Gets the refcount table and blocks, kept up to date as they move or are added; clusters
    /// in it are never handed out, whatever their refcount says.</param>
    public Qcow2Refcounts(Qcow2File file, Qcow2Header header, ulong fileLength, Qcow2MetadataMap metadata)
    {
        _file = file;
        _metadata = metadata;
        _clusterBits = header.ClusterBits;
        _clusterSize = header.ClusterSize;
        _order = header.RefcountOrder;
        _perBlock = Qcow2RefcountEntry.PerBlock(_clusterSize, _order);
        _blocks = new Qcow2TableCache(file, 4, (int)_clusterSize, () => { });
        _tableOffset = header.RefcountTableOffset;
        _table = new ulong[(header.RefcountTableClusters << _clusterBits) / 8];
        var raw = new byte[_table.Length * 8];
        file.Read(raw, (long)_tableOffset);
        for (int i = 0; i < _table.Length; i++)
        {
            ulong entry = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
            ulong offset = entry & ~0x1FFUL;
            if (offset != 0 && (offset % _clusterSize != 0 || offset > fileLength - _clusterSize))
                throw new Qcow2FormatException("refcount table entry", $"{i}: block at 0x{offset:x} is not an aligned cluster inside the file");
            _table[i] = offset;
        }
        metadata.Add(_tableOffset, (ulong)raw.Length, Qcow2Metadata.RefcountTable);
        foreach (ulong block in _table) if (block != 0) metadata.Add(block, _clusterSize, Qcow2Metadata.RefcountBlock);
        _end = (fileLength + _clusterSize - 1) >> _clusterBits;
    }

    /// <summary>Bytes from the start of the file to the end of the last cluster in use or handed out.</summary>
    public ulong EndOffset => _end << _clusterBits;

    /// <summary>Called with the new refcount table's offset and cluster count, to write them into the header durably.</summary>
    public Action<ulong, uint>? TableMoved { get; set; }

    public ulong Get(ulong cluster)
    {
        ulong index = cluster / _perBlock;
        if (index >= (ulong)_table.Length || _table[index] == 0) return 0;
        var block = _blocks.Get(_table[index]);
        return ReadEntry(block, cluster % _perBlock);
    }

    /// <summary>A free cluster, its refcount already 1 on disk; returns its byte offset.</summary>
    public ulong Allocate()
    {
        ulong cluster = Reserve();
        _inFlight = cluster;
        Set(cluster, 1);
        _inFlight = ulong.MaxValue;
        return cluster << _clusterBits;
    }

    /// <summary>Drops one reference to the cluster holding <paramref name="offset"/>.</summary>
    public void Release(ulong offset)
    {
        ulong cluster = offset >> _clusterBits;
        ulong count = Get(cluster);
        if (count == 0) throw new Qcow2FormatException("refcount", $"cluster 0x{offset:x} is freed but has no references");
        Set(cluster, count - 1);
        if (count == 1 && cluster < _freeHint) _freeHint = cluster;
    }

    /// <summary>Lowers a leaked cluster's refcount to the references it really has; one with none is free again.</summary>
    public void Lower(ulong cluster, ulong references)
    {
        Set(cluster, references);
        if (references == 0 && cluster < _freeHint) _freeHint = cluster;
    }

    /// <summary>Sets a cluster's refcount, adding a refcount block or growing the table when it has none.</summary>
    public void Set(ulong cluster, ulong count)
    {
        ulong index = cluster / _perBlock;
        if (index >= (ulong)_table.Length) GrowTable(index + 1);
        if (_table[index] == 0) AddBlock(index);
        var block = _blocks.Get(_table[index]);
        ulong slot = cluster % _perBlock;
        var (start, length) = WriteEntry(block, slot, count);
        _file.Write(block.AsSpan(start, length), (long)_table[index] + start);
    }

    /// <summary>The lowest cluster with no references that nothing else holds; it counts as used from now on.</summary>
    private ulong Reserve()
    {
        ulong cluster = _freeHint;
        while (cluster < _end && (cluster == _inFlight || Get(cluster) != 0 || _metadata.IsMetadataCluster(cluster))) cluster++;
        _freeHint = cluster + 1;
        if (cluster >= _end) _end = cluster + 1;
        return cluster;
    }

    private void AddBlock(ulong index)
    {
        ulong cluster = Reserve();
        ulong offset = cluster << _clusterBits;
        var block = new byte[_clusterSize];       // rare: once per (cluster size * 8 / refcount bits) clusters
        // The block counts itself when it covers its own cluster; otherwise another block counts it, first.
        if (cluster / _perBlock == index) WriteEntry(block, cluster % _perBlock, 1);
        else Set(cluster, 1);
        _file.Write(block, (long)offset);
        Sync();
        _table[index] = offset;
        _metadata.Add(offset, _clusterSize, Qcow2Metadata.RefcountBlock);
        BinaryPrimitives.WriteUInt64BigEndian(_entry, offset);
        _file.Write(_entry, (long)(_tableOffset + index * 8));
    }

    /// <summary>
    /// A bigger table, written with the refcount blocks it needs past the end of the file, counted in them; then the
    /// header points to it and the old table's clusters are freed.
    /// </summary>
    private void GrowTable(ulong entriesNeeded)
    {
        ulong start = _end;
        ulong entries = Math.Max(entriesNeeded, (ulong)_table.Length * 2);
        ulong tableClusters = 0, newBlocks = 0;
        while (true)
        {
            ulong metaEnd = start + tableClusters + newBlocks;      // the new table and blocks: [start, metaEnd)
            ulong lastIndex = (Math.Max(metaEnd, start + 1) - 1) / _perBlock;
            ulong wantEntries = Math.Max(entries, lastIndex + 1);
            ulong wantClusters = (wantEntries * 8 + _clusterSize - 1) >> _clusterBits;
            ulong wantBlocks = 0;
            for (ulong i = start / _perBlock; i <= lastIndex; i++)
                if (i >= (ulong)_table.Length || _table[i] == 0) wantBlocks++;
            if (wantClusters == tableClusters && wantBlocks == newBlocks) break;
            tableClusters = wantClusters;
            newBlocks = wantBlocks;
        }
        if (tableClusters << _clusterBits > Qcow2Header.MaxRefcountTableBytes)
            throw new IOException("qcow2: the image would need a refcount table beyond 8 MiB");

        var table = new ulong[(tableClusters << _clusterBits) / 8];
        Array.Copy(_table, table, _table.Length);
        ulong metaStart = start, metaEnd2 = start + tableClusters + newBlocks;
        ulong blockCluster = start + tableClusters;
        var fresh = new Dictionary<ulong, byte[]>();
        for (ulong i = metaStart / _perBlock; i <= (metaEnd2 - 1) / _perBlock; i++)
        {
            if (table[i] != 0) continue;
            table[i] = blockCluster++ << _clusterBits;
            fresh[i] = new byte[_clusterSize];
        }
        _end = metaEnd2;
        for (ulong c = metaStart; c < metaEnd2; c++)
        {
            ulong i = c / _perBlock;
            if (fresh.TryGetValue(i, out var block)) WriteEntry(block, c % _perBlock, 1);
            else Set(c, 1);                                   // an existing block: no allocation
        }
        foreach (var (i, block) in fresh)
        {
            _file.Write(block, (long)table[i]);
            _metadata.Add(table[i], _clusterSize, Qcow2Metadata.RefcountBlock);
        }
        var raw = new byte[tableClusters << _clusterBits];
        for (int i = 0; i < table.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), table[i]);
        ulong tableOffset = start << _clusterBits;
        _file.Write(raw, (long)tableOffset);
        Sync();
        (TableMoved ?? throw new InvalidOperationException("no header writer"))(tableOffset, (uint)tableClusters);

        ulong oldOffset = _tableOffset, oldClusters = ((ulong)_table.Length * 8) >> _clusterBits;
        _table = table;
        _tableOffset = tableOffset;
        _metadata.Remove(oldOffset, oldClusters << _clusterBits);
        _metadata.Add(tableOffset, tableClusters << _clusterBits, Qcow2Metadata.RefcountTable);
        for (ulong c = 0; c < oldClusters; c++) Release(oldOffset + (c << _clusterBits));
    }

    public void Sync()
    {
        _file.Sync();
    }

    /// <summary>The largest count an entry holds (1 for 1-bit refcounts: such a cluster cannot be shared).</summary>
    public ulong MaxCount => Qcow2RefcountEntry.Max(_order);

    private ulong ReadEntry(byte[] block, ulong slot) => Qcow2RefcountEntry.Read(block, slot, _order);

    private (int Start, int Length) WriteEntry(byte[] block, ulong slot, ulong value) => Qcow2RefcountEntry.Write(block, slot, _order, value);
}
