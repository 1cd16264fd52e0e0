using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// Encapsulation: files of a VM that live in its folder (the snapshot folder, or the folder that holds it, as in
/// vm/disk.img next to vm/snapshot/) are written into a snapshot relative to the snapshot folder, so the whole VM
/// folder can be copied or moved to another path or host and resumed there. Files elsewhere keep their absolute
/// paths (shared storage, the image cache).
/// </summary>
public static class VmFolderPaths
{
    public static VmConfig ToStored(VmConfig config, string snapshotDirectory)
    {
        string folder = Path.GetFullPath(snapshotDirectory);
        return MapPaths(config, path => Relative(path, folder));
    }

    public static VmConfig FromStored(VmConfig config, string snapshotDirectory)
    {
        string folder = Path.GetFullPath(snapshotDirectory);
        return MapPaths(config, path => Absolute(path, folder));
    }

    /// <summary>One path as <see cref="ToStored(VmConfig, string)"/> stores it.</summary>
    public static string ToStored(string path, string snapshotDirectory) => Relative(path, Path.GetFullPath(snapshotDirectory));

    public static string FromStored(string path, string snapshotDirectory) => Absolute(path, Path.GetFullPath(snapshotDirectory));

    // Every file path in a configuration, so both directions cover the same ones.
    private static VmConfig MapPaths(VmConfig config, Func<string, string> map) => config with
    {
        KernelPath = map(config.KernelPath),
        InitrdPath = config.InitrdPath is { } initrd ? map(initrd) : null,
        Disks = config.Disks.Select(d => d with { Path = map(d.Path) }).ToArray(),
    };

    private static string Relative(string path, string snapshotFolder)
    {
        string full = Path.GetFullPath(path);
        string vmFolder = Path.GetDirectoryName(snapshotFolder) ?? snapshotFolder;
        bool inside = full.StartsWith(vmFolder.TrimEnd('/') + "/", StringComparison.Ordinal);
        return inside && vmFolder != "/" ? Path.GetRelativePath(snapshotFolder, full) : full;
    }

    private static string Absolute(string path, string snapshotFolder) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(snapshotFolder, path));
}
