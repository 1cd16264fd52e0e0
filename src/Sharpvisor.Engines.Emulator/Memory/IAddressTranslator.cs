namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// Linear address to guest-physical address, or a fault. System mode puts the page-table walk and the TLB behind it;
/// a flat identity map serves code that runs without paging, and tests can map a window anywhere.
/// </summary>
public interface IAddressTranslator
{
    /// <summary>The physical address of <paramref name="linear"/>, valid up to the end of its 4 KiB page; throws a GuestFault when it cannot be reached.</summary>
    ulong Translate(ulong linear, AccessKind kind);
}
