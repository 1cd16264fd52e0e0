namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>One slot of the <see cref="TranslationLookasideBuffer"/>: 32 bytes, the first three read on a hit.</summary>
internal struct TlbEntry
{
    /// <summary>The linear page (bits 63:12) and, in bits 11:0, the <see cref="TlbRights"/> it grants; 0 when empty.</summary>
    public ulong Tag;
    /// <summary>The host address of the page's first byte when it is plain RAM (<see cref="TlbRights.Ram"/>), else null.</summary>
    public unsafe byte* Host;
    /// <summary>The guest-physical address of the 4 KiB page.</summary>
    public ulong Physical;
    /// <summary>For a 4 KiB piece of a 2 MiB / 4 MiB / 1 GiB page, the mask of the large page's base (INVLPG of any address in it drops it); 0 otherwise.</summary>
    public ulong LargePageMask;
}
