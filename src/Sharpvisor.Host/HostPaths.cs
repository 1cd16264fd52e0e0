namespace Sharpvisor.Host;

/// <summary>
/// The daemon's state directory: its store, its credentials, and one folder per VM (the VMM's sockets, log, exit
/// report, console log and snapshots). VM names are checked before they become folder names
/// (<see cref="Instances.InstanceDefinition.NameProblem"/>). Socket names are short: a Unix socket path has 107 bytes.
/// </summary>
public sealed class HostPaths(string stateDirectory)
{
    public string StateDirectory { get; } = Path.GetFullPath(stateDirectory);
    public string StoreFile => Path.Combine(StateDirectory, "sharpvisor.db");
    public string TokenFile => Path.Combine(StateDirectory, "token");
    public string CertificateFile => Path.Combine(StateDirectory, "tls.pfx");
    public string InstancesDirectory => Path.Combine(StateDirectory, "vms");
    /// <summary>Disk images VMs may be given (besides the --disk-root folders).</summary>
    public string DisksDirectory => Path.Combine(StateDirectory, "disks");

    public string InstanceDirectory(string name) => Path.Combine(InstancesDirectory, name);
    public string ControlSocket(string name) => Path.Combine(InstanceDirectory(name), "control.sock");
    public string ConsoleSocket(string name) => Path.Combine(InstanceDirectory(name), "console.sock");
    public string VmmLog(string name) => Path.Combine(InstanceDirectory(name), "vmm.log");
    public string ExitReport(string name) => Path.Combine(InstanceDirectory(name), "exit.json");
    public string ConsoleLog(string name) => Path.Combine(InstanceDirectory(name), "console.log");
    public string SnapshotsDirectory(string name) => Path.Combine(InstanceDirectory(name), "snapshots");
    public string SnapshotDirectory(string name, string snapshot) => Path.Combine(SnapshotsDirectory(name), snapshot);

    // 0711: only the daemon lists them, while a confined VMM (another uid) may still reach its own files by path.
    public void CreateLayout()
    {
        foreach (var directory in new[] { StateDirectory, InstancesDirectory, DisksDirectory })
        {
            Directory.CreateDirectory(directory);
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        }
    }
}
