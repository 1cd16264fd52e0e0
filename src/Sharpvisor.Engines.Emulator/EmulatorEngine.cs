using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator;

/// <summary>
/// The software engine: every guest instruction is interpreted by our own x86-64 CPU, so it needs nothing from the
/// host but memory and threads, and runs unmodified Linux where KVM cannot.
/// </summary>
public sealed class EmulatorEngine : IEngine
{
    public EngineKind Kind => EngineKind.Emulator;

    public EngineAvailability CheckAvailability() =>
        new(Kind, true, true, "the emulator interprets every guest instruction (no hardware support needed; slower than KVM)");

    public IVirtualMachine CreateVirtualMachine(GuestMemory memory, PortIoBus ports, MmioBus mmio) =>
        new EmulatorVirtualMachine(memory, ports, mmio);
}
