using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// The State section: the machine as a snapshot records it (vCPUs, devices, clock, engine state; its
/// <see cref="SnapshotManifest.Memory"/> is empty, the pages came before), and whether the VM was paused before the
/// migration began, so the destination starts it paused too.
/// </summary>
public sealed record MigrationMachineState
{
    public required SnapshotManifest Machine { get; init; }
    public bool Paused { get; init; }
}
