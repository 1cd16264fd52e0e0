using Sharpvisor.Engines;
using Sharpvisor.Engines.Emulator;
using Sharpvisor.Engines.Kvm;

namespace Sharpvisor.Vmm.EngineSelection;

/// <summary>
/// Every engine this build has, in the order `--engine auto` prefers them (hardware assistance first, it is always
/// faster where it can run the guest). A new engine is its <see cref="EngineKind"/> and one entry here.
/// </summary>
public static class EngineCatalog
{
    public static IReadOnlyList<Func<IEngine>> All { get; } =
    [
        () => new KvmEngine(),
        () => new EmulatorEngine(),
    ];

    /// <summary>The names --engine accepts: auto, then each engine's kind in lower case.</summary>
    public static IReadOnlyList<string> ChoiceNames { get; } =
        ["auto", .. Enum.GetValues<EngineKind>().Select(k => k.ToString().ToLowerInvariant())];
}
