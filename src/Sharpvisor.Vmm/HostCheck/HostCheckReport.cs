using Sharpvisor.Engines;

namespace Sharpvisor.Vmm.HostCheck;

/// <summary>One cell of the host-check table: a test guest on an engine.</summary>
public sealed record HostCheckResult(EngineKind Engine, string Guest, bool Passed, double Seconds, string Detail);

/// <summary>What each engine can do here, and how every test guest fared on the engines that can serve.</summary>
public sealed record HostCheckReport(IReadOnlyList<EngineAvailability> Engines, IReadOnlyList<HostCheckResult> Results)
{
    public bool AllPassed => Results.Count > 0 && Results.All(r => r.Passed);
}
