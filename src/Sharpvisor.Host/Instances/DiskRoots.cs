using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Host.Instances;

/// <summary>
/// A VM may be given only disk files under the daemon's disk folders (its state directory's disks/ and those named
/// with --disk-root), so an API caller cannot hand a VM /etc/shadow or another host file. Symbolic links are refused
/// anywhere below a root, since they could point out of it.
/// </summary>
public sealed class DiskRoots(IReadOnlyList<string> roots) : IDiskPathPolicy
{
    public IReadOnlyList<string> Roots { get; } = roots.Select(r => Path.TrimEndingDirectorySeparator(Path.GetFullPath(r))).ToArray();

    public string? Problem(DiskSpec disk)
    {
        if (!Path.IsPathFullyQualified(disk.Path)) return $"disk '{disk.Path}' is not an absolute path";
        string full = Path.GetFullPath(disk.Path);
        string? root = Roots.FirstOrDefault(r => full.StartsWith(r + "/", StringComparison.Ordinal));
        if (root is null) return $"disk '{disk.Path}' is outside the folders this daemon gives to VMs ({string.Join(", ", Roots)})";
        for (string? at = full; at is not null && at.Length > root.Length; at = Path.GetDirectoryName(at))
            if (new FileInfo(at).LinkTarget is not null) return $"disk '{disk.Path}': {at} is a symbolic link";
        if (!File.Exists(full)) return $"disk '{disk.Path}' does not exist";
        if (new FileInfo(full).Length < 512) return $"disk '{disk.Path}' is smaller than one 512-byte sector";
        return null;
    }
}
