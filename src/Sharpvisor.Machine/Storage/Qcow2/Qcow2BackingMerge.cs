namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// Merges a qcow2 image's backing file into it (QEMU's block-stream): every cluster the image does not map but its
/// backing file does is copied in (zeros as the v3 zero flag, or written zeros on v2, where the next backing file
/// would show through), then the header names the backing file's own backing file, or none. What the guest reads is
/// the same before, during and after, so the backing file may then be deleted: what a snapshot's frozen disk needs
/// when the snapshot is deleted. The data is durable before the header changes; a crash in between leaves the old
/// chain, whole (and perhaps leaked clusters, given back at the next open).
/// </summary>
public static class Qcow2BackingMerge
{
    /// <returns>Clusters copied from the backing file.</returns>
    public static long Merge(string path)
    {
        long copied = 0;
        using var top = Qcow2BlockBackend.Open(path, readOnly: false);
        if (top.Backing is not { } below) return 0;
        var belowQcow2 = below as Qcow2BlockBackend;
        (string? name, string? format) next = belowQcow2?.Header.BackingFile is { } b
            ? (Rebase(b, BackingPath(path, top.Header.BackingFile!), path), belowQcow2.Header.BackingFormat)
            : (null, null);
        ulong cluster = top.Header.ClusterSize;
        var buffer = new byte[cluster];
        for (ulong at = 0; at < top.VirtualSize; at += cluster)
        {
            if (top.MapsCluster(at)) continue;
            int n = (int)Math.Min(cluster, top.VirtualSize - at);
            var data = buffer.AsSpan(0, n);
            ulong belowSize = below.VirtualSize;
            if (at >= belowSize) data.Clear();                 // past a smaller backing file the image reads zeros
            else if (belowQcow2 is not null && !belowQcow2.MapsCluster(at)) continue;   // the same file shows through after
            else
            {
                int inside = (int)Math.Min((ulong)n, belowSize - at);
                below.Read(data[..inside], at);
                data[inside..].Clear();
            }
            if (data.IndexOfAnyExcept((byte)0) < 0)
            {
                if (next.name is not null) top.WriteZeroes(at, (ulong)n);   // else unmapped reads zeros already
                continue;
            }
            top.Write(data, at);
            copied++;
        }
        top.Flush();
        top.SetBackingFile(next.name, next.format);
        return copied;
    }

    private static string BackingPath(string imagePath, string name) =>
        Path.IsPathRooted(name) ? name : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(imagePath)) ?? "/", name));

    /// <summary>The backing file's own backing name, as seen from the top image: relative names stay relative.</summary>
    private static string Rebase(string name, string backingPath, string topPath)
    {
        if (Path.IsPathRooted(name)) return name;
        string target = BackingPath(backingPath, name);
        return Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(topPath)) ?? "/", target);
    }
}
