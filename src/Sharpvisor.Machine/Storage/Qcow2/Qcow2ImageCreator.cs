using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// Writes a new, empty qcow2 image: the header (and backing file name) in cluster 0, a one-cluster refcount table,
/// one refcount block counting the metadata clusters, then the L1 table. Every cluster in use is counted, so
/// `qemu-img check` finds nothing to report.
/// </summary>
public static class Qcow2ImageCreator
{
    public static void Create(string path, ulong virtualSize, string? backingFile = null, string? backingFormat = null,
        int version = 3, int clusterBits = 16, int refcountOrder = 4)
    {
        if (version is not (2 or 3)) throw new ArgumentOutOfRangeException(nameof(version), "qcow2 version 2 or 3");
        if (refcountOrder is < 0 or > 6 || (version == 2 && refcountOrder != 4))
            throw new ArgumentOutOfRangeException(nameof(refcountOrder), "0..6 (1- to 64-bit refcounts); version 2 has 16-bit refcounts only");
        if (clusterBits is < Qcow2Header.MinClusterBits or > Qcow2Header.MaxClusterBits)
            throw new ArgumentOutOfRangeException(nameof(clusterBits));
        virtualSize = (virtualSize + 511) & ~511UL;
        if (virtualSize > Qcow2Header.MaxVirtualSize) throw new ArgumentOutOfRangeException(nameof(virtualSize), "beyond the format's limit");
        int cluster = 1 << clusterBits;
        ulong l1Entries = Qcow2Header.L1EntriesFor(virtualSize, clusterBits);
        ulong l1Clusters = Math.Max(1, (l1Entries * 8 + (ulong)cluster - 1) >> clusterBits);
        ulong clusters = 3 + l1Clusters;                 // header, refcount table, refcount block, L1
        if (clusters > Qcow2RefcountEntry.PerBlock((ulong)cluster, refcountOrder) || l1Entries * 8 > Qcow2Header.MaxL1Bytes)
            throw new ArgumentOutOfRangeException(nameof(virtualSize), "too large for this cluster size");

        var image = new byte[clusters << clusterBits];
        var h = image.AsSpan();
        BinaryPrimitives.WriteUInt32BigEndian(h, Qcow2Header.Magic);
        BinaryPrimitives.WriteUInt32BigEndian(h[4..], (uint)version);
        BinaryPrimitives.WriteUInt32BigEndian(h[20..], (uint)clusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(h[24..], virtualSize);
        BinaryPrimitives.WriteUInt32BigEndian(h[36..], (uint)l1Entries);
        BinaryPrimitives.WriteUInt64BigEndian(h[40..], 3UL << clusterBits);          // L1 table
        BinaryPrimitives.WriteUInt64BigEndian(h[48..], 1UL << clusterBits);          // refcount table
        BinaryPrimitives.WriteUInt32BigEndian(h[56..], 1);
        int at = Qcow2Header.Version2Length;
        if (version == 3)
        {
            BinaryPrimitives.WriteUInt32BigEndian(h[96..], (uint)refcountOrder);
            BinaryPrimitives.WriteUInt32BigEndian(h[100..], 112);                    // header length, with compression_type (0: deflate)
            at = 112;
        }
        if (backingFile is not null)
        {
            if (backingFormat is not null)
            {
                byte[] format = Encoding.UTF8.GetBytes(backingFormat);
                BinaryPrimitives.WriteUInt32BigEndian(h[at..], Qcow2Header.ExtensionBackingFormat);
                BinaryPrimitives.WriteUInt32BigEndian(h[(at + 4)..], (uint)format.Length);
                format.CopyTo(h[(at + 8)..]);
                at += 8 + ((format.Length + 7) & ~7);
            }
            at += 8;                                                                   // the end-of-extensions marker (zeros)
            byte[] name = Encoding.UTF8.GetBytes(backingFile);
            if (name.Length is 0 or > 1023 || at + name.Length > cluster)
                throw new ArgumentException("the backing file name must be 1..1023 bytes and fit the first cluster", nameof(backingFile));
            BinaryPrimitives.WriteUInt64BigEndian(h[8..], (ulong)at);
            BinaryPrimitives.WriteUInt32BigEndian(h[16..], (uint)name.Length);
            name.CopyTo(h[at..]);
        }
        BinaryPrimitives.WriteUInt64BigEndian(h[cluster..], 2UL << clusterBits);     // refcount table -> block
        for (ulong c = 0; c < clusters; c++)
            Qcow2RefcountEntry.Write(h.Slice(2 * cluster, cluster), c, refcountOrder, 1);

        using var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write);
        RandomAccess.Write(file, image, 0);
    }
}
