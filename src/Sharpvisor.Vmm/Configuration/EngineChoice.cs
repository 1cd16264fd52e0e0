using Sharpvisor.Engines;

namespace Sharpvisor.Vmm.Configuration;

/// <summary>What the user asked for with --engine: one engine by its kind, or auto (<see cref="Kind"/> null).</summary>
public readonly record struct EngineChoice(EngineKind? Kind)
{
    public static EngineChoice Auto => new(null);

    /// <summary>"auto" or an engine kind's name, in any case; anything else is refused with the names it takes.</summary>
    public static EngineChoice Parse(string name) =>
        name.Equals("auto", StringComparison.OrdinalIgnoreCase) ? Auto
        : Enum.TryParse<EngineKind>(name, ignoreCase: true, out var kind) && Enum.IsDefined(kind) ? new(kind)
        : throw new ArgumentException($"unknown engine '{name}' (auto, {string.Join(", ", Enum.GetNames<EngineKind>().Select(n => n.ToLowerInvariant()))})");
}
