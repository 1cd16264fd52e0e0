namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// Linear address to guest-physical address, or a fault. System mode puts the page-table walk and the TLB behind it
/// (<see cref="PagingUnit"/>); a flat identity map serves code that runs without paging, and tests can map a window
/// anywhere.
/// </summary>
public interface IAddressTranslator
{
    /// <summary>
    /// The physical address of <paramref name="linear"/>, valid up to the end of its 4 KiB page; throws a GuestFault
    /// (#PF with the architectural error code and the linear address, #GP for a non-canonical address) when it
    /// cannot be reached with the rights <paramref name="kind"/> needs.
    /// </summary>
    ulong Translate(ulong linear, AccessKind kind);

    /// <summary>Drops cached translations after CR3, CR0, CR4 or EFER change: all of them, or all but global pages.</summary>
    void Flush(bool includeGlobal);

    /// <summary>Drops any cached translation for the page holding <paramref name="linear"/> (INVLPG), global or not, large or not.</summary>
    void InvalidatePage(ulong linear);
}
