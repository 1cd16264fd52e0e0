namespace Sharpvisor.Machine.Storage.Qcow2;

internal enum Qcow2Metadata : byte { None, Header, L1Table, RefcountTable, RefcountBlock, L2Table }

/// <summary>
/// Which host clusters of a writable image hold its own metadata: the header cluster, the L1 table, the refcount table,
/// the refcount blocks and the L2 tables. A guest write, a freed reference or an L2 table taken from L1 is checked
/// against it, so a hostile L1 or L2 entry cannot make us overwrite (or free and reuse) the image's metadata. A look-up
/// is one hash probe; the map only grows when a table or block is added.
/// </summary>
internal sealed class Qcow2MetadataMap(int clusterBits)
{
    private readonly Dictionary<ulong, Qcow2Metadata> _clusters = [];

    /// <summary>Marks the clusters of <paramref name="bytes"/> at <paramref name="offset"/>; a cluster keeps its first kind.</summary>
    public void Add(ulong offset, ulong bytes, Qcow2Metadata kind)
    {
        if (bytes == 0) return;
        for (ulong c = offset >> clusterBits; c <= (offset + bytes - 1) >> clusterBits; c++) _clusters.TryAdd(c, kind);
    }

    public void Remove(ulong offset, ulong bytes)
    {
        if (bytes == 0) return;
        for (ulong c = offset >> clusterBits; c <= (offset + bytes - 1) >> clusterBits; c++) _clusters.Remove(c);
    }

    /// <summary>What the cluster holding the host offset is (None: data or free).</summary>
    public Qcow2Metadata At(ulong offset) => _clusters.GetValueOrDefault(offset >> clusterBits);

    public bool IsMetadataCluster(ulong cluster) => _clusters.ContainsKey(cluster);

    /// <summary>Every metadata cluster's index.</summary>
    public IEnumerable<ulong> Clusters => _clusters.Keys;

    public static string Describe(Qcow2Metadata kind) => kind switch
    {
        Qcow2Metadata.Header => "the header cluster",
        Qcow2Metadata.L1Table => "the L1 table",
        Qcow2Metadata.RefcountTable => "the refcount table",
        Qcow2Metadata.RefcountBlock => "a refcount block",
        Qcow2Metadata.L2Table => "an L2 table",
        _ => "a cluster that holds no L2 table",
    };
}
