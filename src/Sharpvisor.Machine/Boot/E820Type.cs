namespace Sharpvisor.Machine.Boot;

/// <summary>Address range types of the BIOS E820 memory map (also used by PVH's memory map).</summary>
public enum E820Type : uint
{
    Ram = 1,
    Reserved = 2,
    AcpiReclaimable = 3,
    AcpiNvs = 4,
    Unusable = 5,
    PersistentMemory = 7,
}
