using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines;

/// <summary>
/// One virtual CPU. <see cref="Run"/> is called on the vCPU's own thread; it handles port I/O and MMIO itself and
/// returns only for what the VMM must decide. <see cref="Kick"/> may be called from any thread.
/// </summary>
public interface IVcpu : IDisposable
{
    int Index { get; }

    /// <summary>The whole architectural state. Call it from the vCPU thread, or while the vCPU is not running.</summary>
    CpuState GetState();
    void SetState(CpuState state);

    /// <summary>Runs guest code until something the VMM must see happens.</summary>
    VcpuExit Run();

    /// <summary>
    /// Port I/O and MMIO accesses that reached the machine's buses: what hardware virtualization turns into VM exits
    /// (KVM counts its exits; the emulator counts the same accesses). For metrics; read from any thread.
    /// </summary>
    long IoExits { get; }

    /// <summary>Makes a running (or about to run) <see cref="Run"/> return <see cref="VcpuExitReason.Kicked"/> soon.</summary>
    void Kick();
}
