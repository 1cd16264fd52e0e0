namespace Sharpvisor.Host.Supervision;

/// <summary>
/// One VMM process to start for a VM: its command line and what it may use. The launcher decides how it is
/// confined (cgroup limits, mount namespace, user); the VM's folder holds its sockets and log.
/// </summary>
public sealed record VmmLaunch
{
    public required string VmName { get; init; }
    public required string VmDirectory { get; init; }
    public required IReadOnlyList<string> Command { get; init; }
    public required string LogPath { get; init; }
    /// <summary>Files it reads besides its folder: kernel, initrd, read-only disks, the .NET runtime and our build.</summary>
    public IReadOnlyList<string> ReadablePaths { get; init; } = [];
    /// <summary>Files it writes besides its folder: its read-write disks.</summary>
    public IReadOnlyList<string> WritablePaths { get; init; } = [];
    public required int Vcpus { get; init; }
    public required ulong GuestMemoryBytes { get; init; }
    /// <summary>Its share of contended CPU time (cgroup cpu.weight); only a confining launcher can apply it.</summary>
    public int CpuWeight { get; init; } = 100;
    /// <summary>Taps its NICs use: made (if missing) for the VMM's user and brought up, as it may not make them itself.</summary>
    public IReadOnlyList<string> Taps { get; init; } = [];
    /// <summary>The taps of <see cref="Taps"/> that are made ports of a daemon network's bridge, with that bridge.</summary>
    public IReadOnlyDictionary<string, string> TapBridges { get; init; } = new Dictionary<string, string>();
}
