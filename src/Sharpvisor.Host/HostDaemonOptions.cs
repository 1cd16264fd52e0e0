using Sharpvisor.Host.Admission;

namespace Sharpvisor.Host;

/// <summary>How a host daemon is set up: where it keeps its state, what it offers VMs, and how it starts their VMMs.</summary>
public sealed record HostDaemonOptions
{
    public required HostPaths Paths { get; init; }
    public required HostCapacity Capacity { get; init; }
    /// <summary>Folders besides the state directory's disks/ whose files VMs may be given as disks.</summary>
    public IReadOnlyList<string> DiskRoots { get; init; } = [];
    /// <summary>The command that runs our CLI (e.g. dotnet sharpvisor.dll); the VMM is it with `run ...` after.</summary>
    public required IReadOnlyList<string> VmmCommand { get; init; }
    /// <summary>How long a stop without force waits for the guest to power off after the ACPI power button.</summary>
    public TimeSpan GracefulStopTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>The first wait before a restart the restart policy makes; it doubles with each one, up to a minute.</summary>
    public TimeSpan RestartBackoff { get; init; } = TimeSpan.FromSeconds(1);
    public string HostName { get; init; } = Environment.MachineName;
    /// <summary>How often the memory steward tunes KSM and sizes balloons (Proxmox's pvestatd: every 10 s).</summary>
    public TimeSpan ResourceInterval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Balloons inflate while the host's memory use is above this share of its capacity (Proxmox: 80 %).</summary>
    public double BalloonTargetFraction { get; init; } = 0.8;
}
