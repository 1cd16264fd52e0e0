namespace Sharpvisor.Engines;

/// <summary>Why <see cref="IVcpu.Run"/> returned.</summary>
public enum VcpuExitReason
{
    /// <summary><see cref="IVcpu.Kick"/> was called: the VMM wants the thread back (pause, stop, a request).</summary>
    Kicked,
    /// <summary>The vCPU executed HLT with nothing to wake it in the engine.</summary>
    Halted,
    /// <summary>A triple fault, or the guest asked the engine to shut down.</summary>
    Shutdown,
    /// <summary>The guest asked for a reset through the engine (e.g. a PSCI-like system event).</summary>
    Reset,
    /// <summary>The guest asked to power off through the engine.</summary>
    PowerOff,
    /// <summary>The engine could not go on (emulation failure, failed entry, an instruction it cannot run).</summary>
    Failed,
}
