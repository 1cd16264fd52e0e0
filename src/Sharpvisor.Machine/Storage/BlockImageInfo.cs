using Sharpvisor.Machine.Native;
using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Storage;

/// <summary>What `image info` shows of one image of a chain: format, sizes, cluster size, its backing file.</summary>
public sealed record BlockImageInfo(string Path, string Format, ulong VirtualSize, long ActualSize, ulong? ClusterSize,
    int? Qcow2Version, string? BackingFile, string? BackingFormat)
{
    /// <summary>The image, then each backing file below it.</summary>
    /// <param name="format">The top image's format ("raw" or "qcow2"); null probes it.</param>
    public static List<BlockImageInfo> Chain(string path, string? format = null)
    {
        var chain = new List<BlockImageInfo>();
        using var top = BlockBackendOpener.Open(path, readOnly: true, format);
        IBlockBackend? disk = top;
        string current = System.IO.Path.GetFullPath(path);
        while (disk is not null)
        {
            long actual;
            using (var file = File.OpenHandle(current, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
                actual = Libc.AllocatedBytes((int)file.DangerousGetHandle());
            var qcow2 = disk as Qcow2BlockBackend;
            string? backing = qcow2?.Header.BackingFile;
            chain.Add(new BlockImageInfo(current, disk.Format, disk.VirtualSize, actual, qcow2?.Header.ClusterSize,
                (int?)qcow2?.Header.Version, backing, qcow2?.Header.BackingFormat));
            if (backing is not null)
                current = System.IO.Path.IsPathRooted(backing) ? backing
                    : System.IO.Path.Combine(System.IO.Path.GetDirectoryName(current) ?? "/", backing);
            disk = qcow2?.Backing;
        }
        return chain;
    }
}
