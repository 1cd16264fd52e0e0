namespace Sharpvisor.TestGuests.Building;

/// <summary>The fields of the PVH boot ABI's hvm_start_info that test guests read.</summary>
public static class PvhStartInfo
{
    public const uint Magic = 0x336E_C578;               // "xEn3" with bit 7 of the first byte set
    public const int MagicOffset = 0x00;
    public const int CommandLineAddressOffset = 0x18;    // cmdline_paddr, 64-bit, 0 when there is none
}
