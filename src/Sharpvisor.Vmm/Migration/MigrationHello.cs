using Sharpvisor.Engines;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// The Config section: what the destination needs to build the same machine (its disks by the same paths: shared
/// storage), the engine the VM runs on, and the source's RAM layout, which the destination's must match.
/// </summary>
public sealed record MigrationHello
{
    public required VmConfig Config { get; init; }
    public EngineKind SourceEngine { get; init; }
    /// <summary>Each RAM region as (guest-physical start, size in bytes).</summary>
    public required ulong[][] Regions { get; init; }
}
