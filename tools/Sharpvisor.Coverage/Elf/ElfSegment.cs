namespace Sharpvisor.Coverage.Elf;

/// <summary>One program header of an ELF64 file.</summary>
/// <param name="Type">p_type (1 = PT_LOAD).</param>
/// <param name="Flags">p_flags (<see cref="ElfFile.SegmentFlagExecute"/> marks code).</param>
/// <param name="FileOffset">p_offset.</param>
/// <param name="VirtualAddress">p_vaddr.</param>
/// <param name="FileSize">p_filesz: bytes present in the file (the rest up to p_memsz is zero-filled).</param>
/// <param name="MemorySize">p_memsz.</param>
public sealed record ElfSegment(uint Type, uint Flags, ulong FileOffset, ulong VirtualAddress, ulong FileSize, ulong MemorySize)
{
    public bool IsExecutableLoad => Type == ElfFile.SegmentTypeLoad && (Flags & ElfFile.SegmentFlagExecute) != 0;
}
