using System.Runtime.CompilerServices;

namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// What a cached translation allows, kept in the low bits of its tag so that one compare checks the page and the
/// right together. Supervisor and user rights are separate bits, so a CPL change needs no flush; a write right is
/// granted only once the page's Dirty bit is set, so the first write still walks and sets it.
/// </summary>
public static class TlbRights
{
    public const uint SupervisorRead = 1, SupervisorWrite = 2, SupervisorExecute = 4,
        UserRead = 8, UserWrite = 16, UserExecute = 32,
        /// <summary>The page is plain guest RAM with a host pointer (not MMIO, not a per-CPU device page).</summary>
        Ram = 64,
        /// <summary>A global page (PTE.G with CR4.PGE): kept by a flush that spares globals.</summary>
        Global = 128;

    public const uint All = SupervisorRead | SupervisorWrite | SupervisorExecute | UserRead | UserWrite | UserExecute;

    /// <summary>
    /// The right an access needs: data and fetches by the CPL (3 = user), implicit system-structure accesses always
    /// as supervisor. Branch-free for a constant kind: (CPL + 1) / 4 is 1 at CPL 3 only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Required(AccessKind kind, int cpl) => kind switch
    {
        AccessKind.SystemStructureRead => SupervisorRead,
        AccessKind.SystemStructureWrite => SupervisorWrite,
        _ => SupervisorRead << (int)kind << (((cpl + 1) >> 2) * 3),
    };
}
