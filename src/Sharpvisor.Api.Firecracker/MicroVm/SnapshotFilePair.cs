using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>
/// Firecracker names a snapshot by two files, snapshot_path (the state) and mem_file_path (guest memory); ours is a
/// folder holding vm.state and one memory-*.bin (<see cref="SnapshotFormat"/>). The pair is our folder taken apart:
/// the snapshot is written into a staging folder beside snapshot_path, then its state file is renamed to snapshot_path
/// and its memory file to mem_file_path, so the two files are exactly our state file (header, SHA-256, JSON) and our
/// sparse memory file. Paths in the state that were relative to the staging folder resolve against that same place
/// when loading, so a folder holding the pair and the VM's disks can be moved as a whole, as our folders can.
/// </summary>
public static class SnapshotFilePair
{
    /// <summary>The staging folder for <paramref name="snapshotPath"/>: beside it, hidden, named after it.</summary>
    public static string StagingFolderFor(string snapshotPath)
    {
        string full = Path.GetFullPath(snapshotPath);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.sharpvisor-snapshot");
    }

    public static SnapshotResult Save(Vm vm, string snapshotPath, string memFilePath)
    {
        string staging = StagingFolderFor(snapshotPath);
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true); // a crashed earlier save's leftovers
        try
        {
            var result = vm.SaveSnapshot(staging, captureDisks: false);   // Firecracker's snapshots leave the drives to the user
            // The memory first: until the state file is in place, a reader finds the old pair or none.
            File.Move(Path.Combine(staging, result.Manifest.Memory.FileName), Path.GetFullPath(memFilePath), overwrite: true);
            File.Move(Path.Combine(staging, SnapshotFormat.StateFileName), Path.GetFullPath(snapshotPath), overwrite: true);
            return result;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    public static LoadedSnapshot Load(string snapshotPath, string memFilePath, bool verifyMemory) =>
        SnapshotStore.LoadFiles(Path.GetFullPath(snapshotPath), StagingFolderFor(snapshotPath), memFilePath, verifyMemory);
}
