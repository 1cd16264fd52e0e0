using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Api.Firecracker;

/// <summary>How a `sharpvisor firecracker` process ended: bad arguments, a VMM error, or its microVM's run (with the outcome).</summary>
public sealed record FirecrackerExit(FirecrackerExit.Kind How, string Message, VmOutcome? Outcome = null)
{
    public enum Kind { BadArguments, VmmError, VmEnded, Stopped }
}
