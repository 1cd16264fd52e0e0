using Sharpvisor.Engines;
using Sharpvisor.Engines.Kvm;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.EngineSelection;

/// <summary>
/// Picks the engine for --engine auto|kvm|emulator and says why, so the user always learns which engine runs a guest.
/// Auto takes KVM only where it has VT-x or AMD-V underneath; anywhere else the emulator.
/// </summary>
public sealed class EngineSelector(Func<IEngine> kvmFactory)
{
    public EngineSelector() : this(() => new KvmEngine()) { }

    public sealed record Selection(IEngine? Engine, EngineAvailability Availability, string Explanation);

    /// <summary>What each engine can do on this host.</summary>
    public IReadOnlyList<EngineAvailability> Probe() => [kvmFactory().CheckAvailability(), EmulatorAvailability()];

    /// <summary>The emulator engine lands with the emulator issues; until then it cannot serve.</summary>
    public static EngineAvailability EmulatorAvailability() =>
        new(EngineKind.Emulator, false, false, "the emulator engine is not part of this build yet");

    public Selection Select(EngineChoice choice, bool guestIsLinux)
    {
        var kvm = kvmFactory();
        var kvmAvailability = kvm.CheckAvailability();
        var emulator = EmulatorAvailability();
        switch (choice)
        {
            case EngineChoice.Kvm:
                if (!kvmAvailability.CanRun) return new(null, kvmAvailability, $"engine kvm cannot run here: {kvmAvailability.Reason}");
                if (guestIsLinux && !kvmAvailability.CanRunLinux)
                    return new(null, kvmAvailability, $"engine kvm cannot run a Linux guest here: {kvmAvailability.Reason}");
                return new(kvm, kvmAvailability, $"engine kvm: {kvmAvailability.Reason}");
            case EngineChoice.Emulator:
                return new(null, emulator, $"engine emulator cannot run here: {emulator.Reason}");
            default:
                bool kvmFits = kvmAvailability.CanRun && (kvmAvailability.CanRunLinux || !guestIsLinux);
                if (kvmAvailability.CanRunLinux || (kvmFits && !guestIsLinux && !emulator.CanRun))
                    return new(kvm, kvmAvailability, $"engine auto chose kvm: {kvmAvailability.Reason}");
                if (emulator.CanRun)
                    return new(null, emulator, $"engine auto chose the emulator because {kvmAvailability.Reason}");
                return new(null, emulator,
                    $"no engine can run this guest here: kvm: {kvmAvailability.Reason}; emulator: {emulator.Reason}");
        }
    }
}
