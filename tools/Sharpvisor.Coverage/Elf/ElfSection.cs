namespace Sharpvisor.Coverage.Elf;

/// <summary>One section header of an ELF64 file.</summary>
/// <param name="Name">The name from the section-name string table, e.g. ".text".</param>
/// <param name="Type">sh_type (1 = PROGBITS, 8 = NOBITS, ...).</param>
/// <param name="Flags">sh_flags (<see cref="ElfFile.SectionFlagExecute"/> marks code).</param>
/// <param name="Address">sh_addr: where the section is loaded (0 in relocatable files such as kernel modules).</param>
/// <param name="FileOffset">sh_offset.</param>
/// <param name="Size">sh_size.</param>
public sealed record ElfSection(string Name, uint Type, ulong Flags, ulong Address, ulong FileOffset, ulong Size)
{
    public bool IsExecutable => (Flags & ElfFile.SectionFlagExecute) != 0;

    /// <summary>True when the section occupies bytes in the file (NOBITS sections such as .bss do not).</summary>
    public bool HasFileBytes => Type != ElfFile.SectionTypeNoBits && Size != 0;
}
