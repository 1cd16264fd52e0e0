using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Storage;

/// <summary>
/// The file moves behind disks in VM snapshots, with external qcow2 overlays: <see cref="Freeze"/> moves a disk's
/// image to the snapshot (it stays as it was from then on) and leaves at the disk's path a new qcow2 overlay on it, so
/// the VM writes on where it was; <see cref="Revert"/> puts a fresh overlay on a frozen image at a disk's path (what a
/// restore needs: the disk as it was, the frozen image untouched, so the snapshot can be restored again); deleting a
/// snapshot merges its frozen image into the overlay above it (<see cref="Qcow2BackingMerge"/>). Backing names are
/// relative to the overlay's folder, so a VM folder holding both can be moved.
/// </summary>
public static class DiskSnapshotFiles
{
    /// <summary>Moves the image at <paramref name="diskPath"/> to <paramref name="frozenPath"/> and creates a qcow2
    /// overlay on it at <paramref name="diskPath"/>. The caller has flushed and closed (or will reopen) the disk.</summary>
    /// <param name="format">The image's format; null probes it.</param>
    public static void Freeze(string diskPath, string? format, string frozenPath)
    {
        format ??= BlockBackendOpener.Probe(diskPath);
        ulong size;
        using (var image = BlockBackendOpener.Open(diskPath, readOnly: true, format)) size = image.VirtualSize;
        if (File.Exists(frozenPath)) throw new IOException($"{frozenPath} exists already");
        File.Move(diskPath, frozenPath);
        try
        {
            Qcow2ImageCreator.Create(diskPath, size, BackingName(diskPath, frozenPath), format);
        }
        catch
        {
            File.Move(frozenPath, diskPath);      // as it was
            throw;
        }
    }

    /// <summary>Replaces whatever is at <paramref name="diskPath"/> with a new, empty qcow2 overlay on the frozen image.</summary>
    public static void Revert(string frozenPath, string? format, string diskPath)
    {
        format ??= BlockBackendOpener.Probe(frozenPath);
        ulong size;
        using (var image = BlockBackendOpener.Open(frozenPath, readOnly: true, format)) size = image.VirtualSize;
        string temporary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(diskPath)) ?? "/", $".{Path.GetFileName(diskPath)}.{Environment.ProcessId}.revert");
        try
        {
            Qcow2ImageCreator.Create(temporary, size, BackingName(diskPath, frozenPath), format);
            File.Move(temporary, diskPath, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static string BackingName(string diskPath, string frozenPath) =>
        Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(diskPath)) ?? "/", Path.GetFullPath(frozenPath));
}
