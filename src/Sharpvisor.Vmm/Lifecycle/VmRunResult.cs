namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>The end of a VM's run: how, in words, and, for the debug-exit port, the status the guest wrote.</summary>
public sealed record VmRunResult(VmOutcome Outcome, string Message, int? DebugExitStatus, int Boots, TimeSpan Elapsed);
