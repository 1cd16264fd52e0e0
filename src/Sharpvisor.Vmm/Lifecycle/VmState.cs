namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>Where a VM is in its life; <see cref="VmStateMachine"/> says which moves between them are allowed.</summary>
public enum VmState
{
    /// <summary>Configured, not yet running (a restored VM waits here until its vCPUs start).</summary>
    Created,
    /// <summary>The vCPUs run guest code.</summary>
    Running,
    /// <summary>Every vCPU is stopped at an instruction boundary and the guest's clock is frozen.</summary>
    Paused,
    /// <summary>A paused VM's state is being written to a snapshot.</summary>
    Saving,
    /// <summary>The snapshot is complete; the VM may go on, stay paused, or stop.</summary>
    Saved,
    /// <summary>The VM's state is being copied to another host while it runs.</summary>
    Migrating,
    /// <summary>The run is over (the guest powered off or crashed, or someone stopped it). Final.</summary>
    Stopped,
}
