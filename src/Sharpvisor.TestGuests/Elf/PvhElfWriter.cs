using System.Buffers.Binary;

namespace Sharpvisor.TestGuests.Elf;

/// <summary>
/// Writes an ELF64 x86-64 executable for the PVH boot ABI: one PT_LOAD segment at a physical address, and a PT_NOTE
/// segment with the Xen note XEN_ELFNOTE_PHYS32_ENTRY that names the 32-bit entry point.
/// <para>The note's descriptor is 8 bytes: the 32-bit address zero-extended, as x86-64 Linux kernels have long written
/// it. Readers that take 4 bytes (the Xen ABI) get the address, and so does older QEMU (7.2 here; changed in late
/// 2024), which reads 8 bytes from the descriptor of an ELF64 note.</para>
/// </summary>
public static class PvhElfWriter
{
    public const int ElfHeaderSize = 64;
    public const int ProgramHeaderSize = 56;
    public const int ProgramHeaderCount = 2;
    public const ushort MachineX86_64 = 62;
    public const uint PtLoad = 1;
    public const uint PtNote = 4;
    public const uint XenElfNotePhys32Entry = 18;
    public const string XenNoteName = "Xen";
    /// <summary>File offset of the segment data: page-aligned so offset and address agree modulo the alignment.</summary>
    public const int SegmentFileOffset = 0x1000;

    private const int NoteOffset = ElfHeaderSize + ProgramHeaderCount * ProgramHeaderSize;
    private const int NoteSize = 12 + 4 + 8;           // header, "Xen\0", 8-byte descriptor

    public static byte[] Write(ulong loadAddress, ReadOnlySpan<byte> segment, ulong memorySize, uint phys32Entry)
    {
        if (memorySize < (ulong)segment.Length)
            throw new ArgumentOutOfRangeException(nameof(memorySize), "the memory size cannot be below the file size");
        if (loadAddress % SegmentFileOffset != 0)
            throw new ArgumentOutOfRangeException(nameof(loadAddress), "the load address must be page-aligned");
        if (phys32Entry < loadAddress || phys32Entry >= loadAddress + (ulong)segment.Length)
            throw new ArgumentOutOfRangeException(nameof(phys32Entry), "the entry point must lie in the loaded bytes");

        var file = new byte[SegmentFileOffset + segment.Length];
        var span = file.AsSpan();

        // ELF header
        span[0] = 0x7F; span[1] = (byte)'E'; span[2] = (byte)'L'; span[3] = (byte)'F';
        span[4] = 2;                                  // ELFCLASS64
        span[5] = 1;                                  // little-endian
        span[6] = 1;                                  // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(span[16..], 2);                  // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(span[18..], MachineX86_64);
        BinaryPrimitives.WriteUInt32LittleEndian(span[20..], 1);                  // e_version
        BinaryPrimitives.WriteUInt64LittleEndian(span[24..], phys32Entry);        // e_entry
        BinaryPrimitives.WriteUInt64LittleEndian(span[32..], ElfHeaderSize);      // e_phoff
        BinaryPrimitives.WriteUInt64LittleEndian(span[40..], 0);                  // e_shoff: no sections
        BinaryPrimitives.WriteUInt32LittleEndian(span[48..], 0);                  // e_flags
        BinaryPrimitives.WriteUInt16LittleEndian(span[52..], ElfHeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(span[54..], ProgramHeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(span[56..], ProgramHeaderCount);
        BinaryPrimitives.WriteUInt16LittleEndian(span[58..], 64);                 // e_shentsize
        BinaryPrimitives.WriteUInt16LittleEndian(span[60..], 0);                  // e_shnum
        BinaryPrimitives.WriteUInt16LittleEndian(span[62..], 0);                  // e_shstrndx

        WriteProgramHeader(span[ElfHeaderSize..], PtLoad, flags: 7, SegmentFileOffset, loadAddress,
                           (ulong)segment.Length, memorySize, align: 0x1000);
        WriteProgramHeader(span[(ElfHeaderSize + ProgramHeaderSize)..], PtNote, flags: 4, NoteOffset, 0,
                           NoteSize, NoteSize, align: 4);

        var note = span.Slice(NoteOffset, NoteSize);
        BinaryPrimitives.WriteUInt32LittleEndian(note, 4);                        // namesz: "Xen\0"
        BinaryPrimitives.WriteUInt32LittleEndian(note[4..], 8);                   // descsz
        BinaryPrimitives.WriteUInt32LittleEndian(note[8..], XenElfNotePhys32Entry);
        note[12] = (byte)'X'; note[13] = (byte)'e'; note[14] = (byte)'n'; note[15] = 0;
        BinaryPrimitives.WriteUInt64LittleEndian(note[16..], phys32Entry);

        segment.CopyTo(span[SegmentFileOffset..]);
        return file;
    }

    private static void WriteProgramHeader(Span<byte> ph, uint type, uint flags, ulong offset, ulong address,
                                           ulong fileSize, ulong memorySize, ulong align)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(ph, type);
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], flags);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], address);              // p_vaddr
        BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], address);              // p_paddr
        BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], fileSize);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], memorySize);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[48..], align);
    }
}
