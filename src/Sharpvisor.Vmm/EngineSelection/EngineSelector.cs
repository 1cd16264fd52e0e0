using Sharpvisor.Engines;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.EngineSelection;

/// <summary>
/// Picks the engine for --engine auto|kvm|emulator and says why, so the user always learns which engine runs a guest.
/// Auto takes the first engine of <see cref="EngineCatalog"/> that can run the guest: KVM only where it has VT-x or
/// AMD-V underneath for a Linux guest; anywhere else the emulator.
/// </summary>
public sealed class EngineSelector(IReadOnlyList<Func<IEngine>> engines)
{
    public EngineSelector() : this(EngineCatalog.All) { }

    public sealed record Selection(IEngine? Engine, EngineAvailability Availability, string Explanation);

    /// <summary>What each engine can do on this host.</summary>
    public IReadOnlyList<EngineAvailability> Probe() => engines.Select(create => create().CheckAvailability()).ToArray();

    /// <summary>A new engine object of this kind.</summary>
    public IEngine Create(EngineKind kind) =>
        engines.Select(create => create()).FirstOrDefault(e => e.Kind == kind)
        ?? throw new ArgumentException($"this build has no {kind} engine", nameof(kind));

    public Selection Select(EngineChoice choice, bool guestIsLinux)
    {
        var candidates = engines.Select(create => create()).Select(e => (Engine: e, Availability: e.CheckAvailability())).ToArray();
        if (choice.Kind is { } kind)
        {
            var (engine, availability) = candidates.First(c => c.Engine.Kind == kind);
            string name = kind.ToString().ToLowerInvariant();
            if (!availability.CanRun) return new(null, availability, $"engine {name} cannot run here: {availability.Reason}");
            if (guestIsLinux && !availability.CanRunLinux)
                return new(null, availability, $"engine {name} cannot run a Linux guest here: {availability.Reason}");
            return new(engine, availability, $"engine {name}: {availability.Reason}");
        }
        var first = candidates[0];
        foreach (var (engine, availability) in candidates)
        {
            if (!availability.CanRun || (guestIsLinux && !availability.CanRunLinux)) continue;
            string name = engine.Kind.ToString().ToLowerInvariant();
            // The first choice says what it is; a later one says why the ones before it could not serve.
            return ReferenceEquals(engine, first.Engine)
                ? new(engine, availability, $"engine auto chose {name}: {availability.Reason}")
                : new(engine, availability, $"engine auto chose the {name} because {first.Availability.Reason}");
        }
        return new(null, candidates[^1].Availability, "no engine can run this guest here: " +
            string.Join("; ", candidates.Select(c => $"{c.Engine.Kind.ToString().ToLowerInvariant()}: {c.Availability.Reason}")));
    }
}
