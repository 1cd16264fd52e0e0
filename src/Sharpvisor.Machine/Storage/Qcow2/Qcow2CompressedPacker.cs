using System.Numerics;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// Places compressed clusters one after another inside host clusters, as qemu-img does: each compressed cluster a
/// host cluster holds adds one to its refcount, so the host cluster is freed with the last of them. A compressed
/// cluster never straddles two host clusters (the rest of a cluster that cannot take it stays unused).
/// </summary>
internal sealed class Qcow2CompressedPacker(Qcow2Refcounts refcounts, ulong clusterSize)
{
    private ulong _cluster;      // host offset of the cluster being filled; 0: none
    private ulong _used;

    /// <summary>Host offset for <paramref name="length"/> bytes (at most a cluster), its cluster's refcount raised; and
    /// whether the cluster is new (its unused rest should be written as zeros so the file covers it).</summary>
    public (ulong Offset, bool NewCluster) Place(int length)
    {
        if ((ulong)length > clusterSize) throw new ArgumentOutOfRangeException(nameof(length));
        ulong cluster = _cluster >> BitOperations.Log2(clusterSize);
        if (_cluster != 0 && _used + (ulong)length <= clusterSize && refcounts.Get(cluster) < refcounts.MaxCount)
        {
            refcounts.Set(cluster, refcounts.Get(cluster) + 1);
            ulong at = _cluster + _used;
            _used += (ulong)length;
            return (at, false);
        }
        _cluster = refcounts.Allocate();
        _used = (ulong)length;
        return (_cluster, true);
    }

    /// <summary>Stops filling the current cluster: it may have been freed (its refcount reached 0) and reused.</summary>
    public void Forget()
    {
        _cluster = 0;
        _used = 0;
    }
}
