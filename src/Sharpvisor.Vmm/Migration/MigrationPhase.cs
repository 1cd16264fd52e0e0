namespace Sharpvisor.Vmm.Migration;

/// <summary>Where a live migration is.</summary>
public enum MigrationPhase
{
    /// <summary>The VM runs while its pages are copied, round after round.</summary>
    PreCopy,
    /// <summary>The VM is paused; the last dirty pages and the vCPU and device state go over.</summary>
    StopAndCopy,
    /// <summary>Everything is sent; waiting for the destination to build the VM and acknowledge.</summary>
    WaitingForDestination,
}
