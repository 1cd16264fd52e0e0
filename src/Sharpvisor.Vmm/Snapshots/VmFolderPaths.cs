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
        return config with
        {
            KernelPath = Relative(config.KernelPath, folder),
            InitrdPath = config.InitrdPath is { } initrd ? Relative(initrd, folder) : null,
            Disks = config.Disks.Select(d => d with { Path = Relative(d.Path, folder) }).ToArray(),
        };
    }

    public static VmConfig FromStored(VmConfig config, string snapshotDirectory)
    {
        string folder = Path.GetFullPath(snapshotDirectory);
        return config with
        {
            KernelPath = Absolute(config.KernelPath, folder),
            InitrdPath = config.InitrdPath is { } initrd ? Absolute(initrd, folder) : null,
            Disks = config.Disks.Select(d => d with { Path = Absolute(d.Path, folder) }).ToArray(),
        };
    }

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
