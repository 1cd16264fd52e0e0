namespace Sharpvisor.Engines;

/// <summary>
/// Whether an engine can serve on this host, and whether it can run an unmodified Linux guest (KVM without VT-x or
/// AMD-V cannot: it emulates guest ring 0 and fails on the kernel). <see cref="Reason"/> says why, in words for a user.
/// </summary>
public sealed record EngineAvailability(EngineKind Kind, bool CanRun, bool CanRunLinux, string Reason);
