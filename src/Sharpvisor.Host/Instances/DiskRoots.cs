using Sharpvisor.Machine.Storage;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Host.Instances;

/// <summary>
/// A VM may be given only files under the daemon's disk folders (its state directory's disks/ and those named with
/// --disk-root) as its disks, kernel and initrd, so an API caller cannot hand a VM /etc/shadow or another host file
/// (the guest reads its disks, and its kernel and initrd whole). Symbolic links are refused anywhere below a root,
/// since they could point out of it. The default guest's files are the daemon's own choice, not checked here.
/// A qcow2 disk's backing files are read by the guest as well: each must be under a root too, or in one of the
/// folders only the daemon fills (<paramref name="backingOnly"/>: its images).
/// </summary>
public sealed class DiskRoots(IReadOnlyList<string> roots, IReadOnlyList<string>? backingOnly = null) : IDiskPathPolicy
{
    public IReadOnlyList<string> Roots { get; } = roots.Select(r => Path.TrimEndingDirectorySeparator(Path.GetFullPath(r))).ToArray();
    private readonly string[] _backingRoots = (backingOnly ?? []).Select(r => Path.TrimEndingDirectorySeparator(Path.GetFullPath(r))).ToArray();

    public string? Problem(DiskSpec disk)
    {
        if (FileProblem("disk", disk.Path) is { } problem) return problem;
        if (new FileInfo(disk.Path).Length < 512) return $"disk '{disk.Path}' is smaller than one 512-byte sector";
        List<BlockImageInfo> chain;
        try { chain = BlockImageInfo.Chain(disk.Path, disk.Format); }
        catch (IOException e) { return $"disk '{disk.Path}' cannot be opened: {e.Message}"; }
        foreach (var below in chain.Skip(1))
            if (!Roots.Concat(_backingRoots).Any(r => Path.GetFullPath(below.Path).StartsWith(r + "/", StringComparison.Ordinal)))
                return $"disk '{disk.Path}' rests on {below.Path}, outside the folders this daemon gives to VMs ({string.Join(", ", Roots.Concat(_backingRoots))})";
        return null;
    }

    public string? FileProblem(string what, string path)
    {
        if (!Path.IsPathFullyQualified(path)) return $"{what} '{path}' is not an absolute path";
        string full = Path.GetFullPath(path);
        string? root = Roots.FirstOrDefault(r => full.StartsWith(r + "/", StringComparison.Ordinal));
        if (root is null) return $"{what} '{path}' is outside the folders this daemon gives to VMs ({string.Join(", ", Roots)})";
        for (string? at = full; at is not null && at.Length > root.Length; at = Path.GetDirectoryName(at))
            if (new FileInfo(at).LinkTarget is not null) return $"{what} '{path}': {at} is a symbolic link";
        if (!File.Exists(full)) return $"{what} '{path}' does not exist";
        return null;
    }
}
