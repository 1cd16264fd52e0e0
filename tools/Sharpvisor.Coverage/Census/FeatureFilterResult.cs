namespace Sharpvisor.Coverage.Census;

/// <summary>A census seen through an advertised CPUID feature set.</summary>
/// <param name="Reachable">Forms the CPU runs, most frequent first; counts include forms run as their fallback.</param>
/// <param name="Excluded">Forms needing features the CPU does not advertise (guest code must not reach them).</param>
/// <param name="RunAsFallback">Forms the CPU runs as an older form instead (TZCNT as BSF...), with their own counts.</param>
public sealed record FeatureFilterResult(
    IReadOnlyList<InstructionForm> Reachable,
    IReadOnlyList<InstructionForm> Excluded,
    IReadOnlyList<InstructionForm> RunAsFallback);
