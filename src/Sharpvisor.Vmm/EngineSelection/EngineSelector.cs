using Sharpvisor.Engines;
using Sharpvisor.Engines.Emulator;
using Sharpvisor.Engines.Kvm;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.EngineSelection;

/// <summary>
/// Picks the engine for --engine auto|kvm|emulator and says why, so the user always learns which engine runs a guest.
/// Auto takes KVM only where it has VT-x or AMD-V underneath; anywhere else the emulator.
/// </summary>
public sealed class EngineSelector(Func<IEngine> kvmFactory, Func<IEngine> emulatorFactory)
{
    public EngineSelector() : this(() => new KvmEngine(), () => new EmulatorEngine()) { }

    public sealed record Selection(IEngine? Engine, EngineAvailability Availability, string Explanation);

    /// <summary>What each engine can do on this host.</summary>
    public IReadOnlyList<EngineAvailability> Probe() => [kvmFactory().CheckAvailability(), emulatorFactory().CheckAvailability()];

    public Selection Select(EngineChoice choice, bool guestIsLinux)
    {
        var kvm = kvmFactory();
        var kvmAvailability = kvm.CheckAvailability();
        var emulatorEngine = emulatorFactory();
        var emulator = emulatorEngine.CheckAvailability();
        switch (choice)
        {
            case EngineChoice.Kvm:
                if (!kvmAvailability.CanRun) return new(null, kvmAvailability, $"engine kvm cannot run here: {kvmAvailability.Reason}");
                if (guestIsLinux && !kvmAvailability.CanRunLinux)
                    return new(null, kvmAvailability, $"engine kvm cannot run a Linux guest here: {kvmAvailability.Reason}");
                return new(kvm, kvmAvailability, $"engine kvm: {kvmAvailability.Reason}");
            case EngineChoice.Emulator:
                if (!emulator.CanRun) return new(null, emulator, $"engine emulator cannot run here: {emulator.Reason}");
                return new(emulatorEngine, emulator, $"engine emulator: {emulator.Reason}");
            default:
                bool kvmFits = kvmAvailability.CanRun && (kvmAvailability.CanRunLinux || !guestIsLinux);
                if (kvmFits) // hardware assistance is always faster where it can run the guest
                    return new(kvm, kvmAvailability, $"engine auto chose kvm: {kvmAvailability.Reason}");
                if (emulator.CanRun)
                    return new(emulatorEngine, emulator, $"engine auto chose the emulator because {kvmAvailability.Reason}");
                return new(null, emulator,
                    $"no engine can run this guest here: kvm: {kvmAvailability.Reason}; emulator: {emulator.Reason}");
        }
    }
}
