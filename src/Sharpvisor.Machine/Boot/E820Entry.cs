namespace Sharpvisor.Machine.Boot;

/// <summary>One range of the E820 memory map.</summary>
public readonly record struct E820Entry(ulong Address, ulong Size, E820Type Type)
{
    /// <summary>The size of an entry in boot_params.e820_table: u64 address, u64 size, u32 type, packed.</summary>
    public const int BootParamsEntrySize = 20;

    public ulong End => Address + Size;
}
