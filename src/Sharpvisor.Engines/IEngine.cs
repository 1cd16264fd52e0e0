using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines;

/// <summary>An engine: something that can create virtual machines and run their vCPUs.</summary>
public interface IEngine
{
    EngineKind Kind { get; }

    /// <summary>Probes the host; never throws.</summary>
    EngineAvailability CheckAvailability();

    /// <summary>
    /// A VM over <paramref name="memory"/>; guest port I/O and MMIO that the engine does not handle itself go to
    /// <paramref name="ports"/> and <paramref name="mmio"/> on the vCPU thread that made them.
    /// </summary>
    IVirtualMachine CreateVirtualMachine(GuestMemory memory, PortIoBus ports, MmioBus mmio);
}
