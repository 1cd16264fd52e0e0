using System.Buffers.Binary;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// Gives back leaked clusters when a writable image opens: a crash between counting a new cluster and writing the
/// table that refers to it (our write order, so a crash never leaves a reference to an uncounted cluster) leaves a
/// cluster counted but unused, which `qemu-img check` reports as a leak. Every reference is counted (metadata clusters,
/// L2 entries, compressed ranges) and a refcount above its references is lowered to them. A refcount below its
/// references is not ours to guess at: it is left alone (the request-time metadata checks still hold).
/// Costs one read of each L2 table and refcount block, and four bytes of memory per cluster of the file, once.
/// </summary>
internal static class Qcow2LeakRepair
{
    private const ulong OffsetMask = 0x00FF_FFFF_FFFF_FE00, CompressedFlag = 1UL << 62;

    /// <returns>Clusters whose refcount was lowered.</returns>
    public static int Run(Qcow2File file, Qcow2Header header, ReadOnlySpan<byte> l1, Qcow2Refcounts refcounts,
        Qcow2MetadataMap metadata, Qcow2CompressedCluster compressed)
    {
        int bits = header.ClusterBits;
        ulong clusters = refcounts.EndOffset >> bits;
        var references = new uint[clusters];
        foreach (ulong c in metadata.Clusters) if (c < clusters) references[c]++;
        var table = new byte[header.ClusterSize];
        for (int i = 0; i < l1.Length; i += 8)
        {
            ulong l2 = BinaryPrimitives.ReadUInt64BigEndian(l1[i..]) & OffsetMask;
            if (l2 == 0 || metadata.At(l2) != Qcow2Metadata.L2Table) continue;
            if (!ReadFully(file, table, l2)) return 0;      // references not all known: change nothing
            for (int slot = 0; slot < table.Length; slot += 8)
            {
                ulong entry = BinaryPrimitives.ReadUInt64BigEndian(table.AsSpan(slot));
                if ((entry & CompressedFlag) != 0)
                {
                    var (_, start, length) = compressed.Range(entry);
                    for (ulong c = start >> bits; c <= (start + length - 1) >> bits && c < clusters; c++) references[c]++;
                }
                else if ((entry & OffsetMask) >> bits is var c and > 0 && c < clusters)
                {
                    references[c]++;
                }
            }
        }
        int lowered = 0;
        for (ulong c = 0; c < clusters; c++)
        {
            ulong count = refcounts.Get(c);
            if (count <= references[c]) continue;
            refcounts.Lower(c, references[c]);
            lowered++;
        }
        if (lowered > 0) file.Sync();
        return lowered;
    }

    private static bool ReadFully(Qcow2File file, byte[] into, ulong offset)
    {
        int done = 0;
        while (done < into.Length)
        {
            int got = file.Read(into.AsSpan(done), (long)offset + done);
            if (got == 0) return false;
            done += got;
        }
        return true;
    }
}
