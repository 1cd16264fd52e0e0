namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>A lifecycle request that the VM's current state does not allow (e.g. resuming a VM that is not paused).</summary>
public sealed class InvalidVmTransitionException(VmState from, VmState to)
    : InvalidOperationException($"a VM that is {from.ToString().ToLowerInvariant()} cannot become {to.ToString().ToLowerInvariant()}")
{
    public VmState From { get; } = from;
    public VmState To { get; } = to;
}
