using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Vmm.Tests.Images;

/// <summary>Builds the smallest ELF64 object with a ".modinfo" section, standing in for a .ko file.</summary>
internal static class SyntheticKernelModule
{
    public static byte[] Create(params string[] modinfo)
    {
        // Layout: ELF header (64) | .modinfo | .shstrtab | section headers (null, .modinfo, .shstrtab).
        byte[] info = Encoding.ASCII.GetBytes(string.Concat(modinfo.Select(s => s + "\0")));
        byte[] names = "\0.modinfo\0.shstrtab\0"u8.ToArray();
        int infoOffset = 64, namesOffset = infoOffset + info.Length;
        int sectionTable = (namesOffset + names.Length + 7) & ~7;
        byte[] elf = new byte[sectionTable + 3 * 64];
        "\u007fELF"u8.CopyTo(elf);
        elf[4] = 2; // ELFCLASS64
        elf[5] = 1; // little endian
        elf[6] = 1; // version
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x10), 1);    // ET_REL
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x12), 0x3E); // x86-64
        BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(0x28), (ulong)sectionTable);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x34), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x3A), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x3C), 3);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x3E), 2);
        info.CopyTo(elf, infoOffset);
        names.CopyTo(elf, namesOffset);
        WriteSection(elf, sectionTable + 64, nameOffset: 1, type: 1, infoOffset, info.Length);   // PROGBITS
        WriteSection(elf, sectionTable + 128, nameOffset: 10, type: 3, namesOffset, names.Length); // STRTAB
        return elf;
    }

    private static void WriteSection(byte[] elf, int at, int nameOffset, int type, int offset, int size)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(at), (uint)nameOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(at + 4), (uint)type);
        BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(at + 0x18), (ulong)offset);
        BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(at + 0x20), (ulong)size);
    }
}
