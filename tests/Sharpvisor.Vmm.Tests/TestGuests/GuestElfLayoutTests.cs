using System.Buffers.Binary;
using Iced.Intel;
using Sharpvisor.TestGuests;
using Sharpvisor.TestGuests.Building;
using Sharpvisor.TestGuests.Elf;

namespace Sharpvisor.Vmm.Tests.TestGuests;

public class GuestElfLayoutTests
{
    public static TheoryData<string> GuestNames()
    {
        var data = new TheoryData<string>();
        foreach (var g in TestGuestCatalog.All) data.Add(g.Name);
        return data;
    }

    private static ElfImage Build(string name) => new(TestGuestCatalog.Get(name).BuildElf());

    [Theory, MemberData(nameof(GuestNames))]
    public void Header_is_an_x86_64_executable_entered_at_1_MiB(string name)
    {
        var elf = Build(name);
        Assert.Equal(2, elf.Class);                 // ELFCLASS64
        Assert.Equal(1, elf.DataEncoding);          // little-endian
        Assert.Equal(2, elf.Type);                  // ET_EXEC
        Assert.Equal(62, elf.Machine);              // EM_X86_64
        Assert.Equal(56, elf.PhEntSize);
        Assert.Equal(GuestImageLayout.Entry32Address, elf.Entry);
        Assert.Equal(2, elf.ProgramHeaders.Count);
    }

    [Theory, MemberData(nameof(GuestNames))]
    public void Load_segment_sits_at_1_MiB_with_stacks_beyond_the_file(string name)
    {
        var elf = Build(name);
        var load = elf.Load;
        Assert.Equal(0x10_0000UL, load.PhysicalAddress);
        Assert.Equal(load.PhysicalAddress, load.VirtualAddress);
        Assert.Equal(0UL, load.Offset % 0x1000);
        Assert.Equal(0x1000UL, load.Align);
        Assert.True(load.FileSize > GuestImageLayout.CodeAddress - GuestImageLayout.LoadAddress, "the code is missing");
        Assert.True(load.FileSize <= GuestImageLayout.CodeLimit - GuestImageLayout.LoadAddress);
        Assert.Equal(GuestImageLayout.ImageEnd - GuestImageLayout.LoadAddress, load.MemorySize);
        Assert.Equal((ulong)elf.File.Length, load.Offset + load.FileSize);
        Assert.InRange(elf.Entry, load.PhysicalAddress, load.PhysicalAddress + load.FileSize - 1);
    }

    [Theory, MemberData(nameof(GuestNames))]
    public void Note_segment_holds_only_the_Xen_phys32_entry_note(string name)
    {
        var elf = Build(name);
        Assert.Equal(4UL, elf.Note.Align);          // QEMU aligns the name to p_align: it must be 4
        var notes = elf.Notes();
        var (noteName, type, descriptor) = Assert.Single(notes);
        Assert.Equal("Xen", noteName);
        Assert.Equal(PvhElfWriter.XenElfNotePhys32Entry, type);
        Assert.Equal(18u, type);
        // 8 bytes, the 32-bit entry zero-extended: right for 4-byte readers and for QEMU's 8-byte read.
        Assert.Equal(8, descriptor.Length);
        Assert.Equal((uint)GuestImageLayout.Entry32Address, BinaryPrimitives.ReadUInt32LittleEndian(descriptor));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(descriptor.AsSpan(4)));
    }

    [Theory, MemberData(nameof(GuestNames))]
    public void Entry_stub_enables_long_mode_and_jumps_to_the_64_bit_code(string name)
    {
        var elf = Build(name);
        byte[] stub = elf.ReadPhysical(GuestImageLayout.Entry32Address, GuestImageLayout.Entry32MaxSize);
        var decoder = Iced.Intel.Decoder.Create(32, new ByteArrayCodeReader(stub));
        decoder.IP = GuestImageLayout.Entry32Address;
        var instructions = new List<Instruction>();
        while (instructions.Count < 40)
        {
            var i = decoder.Decode();
            Assert.False(i.IsInvalid, $"invalid 32-bit instruction at 0x{i.IP:x}");
            instructions.Add(i);
            if (i.Code == Code.Jmp_ptr1632) break;
        }
        var jump = instructions[^1];
        Assert.Equal(Code.Jmp_ptr1632, jump.Code);
        Assert.Equal(GuestImageLayout.KernelCodeSelector, jump.FarBranchSelector);
        Assert.Equal((uint)GuestImageLayout.CodeAddress, jump.FarBranch32);
        Assert.Contains(instructions, i => i.Code == Code.Wrmsr);
        Assert.Contains(instructions, i => i.Code == Code.Lgdt_m1632);
        Assert.Contains(instructions, i => i.Code == Code.Mov_cr_r32 && i.Op0Register == Register.CR3);
        Assert.Contains(instructions, i => i.Code == Code.Mov_cr_r32 && i.Op0Register == Register.CR0);
        Assert.Contains(instructions, i => i.Code == Code.Mov_r32_imm32 && i.Immediate32 == GuestImageLayout.Pml4Address);
        Assert.True(instructions.Count <= 20, $"the ring-0 entry stub grew to {instructions.Count} instructions");
    }

    [Theory, MemberData(nameof(GuestNames))]
    public void Page_tables_identity_map_4_GiB_with_2_MiB_pages_and_an_uncached_top_GiB(string name)
    {
        var elf = Build(name);
        const ulong addressMask = 0x000F_FFFF_FFFF_F000;
        ulong pml4e = elf.ReadPhysicalUInt64(GuestImageLayout.Pml4Address);
        Assert.Equal(GuestImageLayout.PdptAddress, pml4e & addressMask);
        Assert.Equal(7UL, pml4e & 7);               // present, writable, user
        for (int gib = 0; gib < 4; gib++)
        {
            ulong pdpte = elf.ReadPhysicalUInt64(GuestImageLayout.PdptAddress + (ulong)gib * 8);
            Assert.Equal(GuestImageLayout.PageDirectoriesAddress + (ulong)gib * 4096, pdpte & addressMask);
            Assert.Equal(7UL, pdpte & 7);
        }
        foreach (ulong address in new ulong[] { 0, 0x10_0000, 0x100_0000, 0xBFE0_0000, 0xFEC0_0000, 0xFEE0_0000, 0xFF00_0000, 0xFFE0_0000 })
        {
            ulong pde = elf.ReadPhysicalUInt64(GuestImageLayout.PageDirectoriesAddress + (address >> 21) * 8);
            Assert.Equal(address & ~0x1F_FFFFUL, pde & 0x000F_FFFF_FFE0_0000);
            Assert.Equal(0x87UL, pde & 0x87);       // present, writable, user, 2 MiB
            Assert.Equal(address >= 0xC000_0000, (pde & 0x18) == 0x18);
        }
        ulong beyond = elf.ReadPhysicalUInt64(GuestImageLayout.PdptAddress + 4 * 8);
        Assert.Equal(0UL, beyond);
    }

    [Theory, MemberData(nameof(GuestNames))]
    public void Gdt_tss_and_idt_are_prebuilt(string name)
    {
        var elf = Build(name);
        byte[] gdtr = elf.ReadPhysical(GuestImageLayout.GdtPointerAddress, 6);
        Assert.Equal(GuestImageLayout.GdtEntries * 8 - 1, BinaryPrimitives.ReadUInt16LittleEndian(gdtr));
        Assert.Equal((uint)GuestImageLayout.GdtAddress, BinaryPrimitives.ReadUInt32LittleEndian(gdtr.AsSpan(2)));

        ulong Descriptor(ushort selector) => elf.ReadPhysicalUInt64(GuestImageLayout.GdtAddress + selector);
        Assert.Equal(2UL, Descriptor(GuestImageLayout.KernelCodeSelector) >> 52 & 0x2);     // L bit (53)
        Assert.Equal(0UL, Descriptor(GuestImageLayout.KernelCodeSelector) >> 45 & 3);        // DPL 0
        Assert.Equal(3UL, Descriptor(GuestImageLayout.UserCodeSelector) >> 45 & 3);          // DPL 3
        Assert.Equal(3UL, Descriptor(GuestImageLayout.UserDataSelector) >> 45 & 3);
        ulong tssLow = Descriptor(GuestImageLayout.TssSelector);
        Assert.Equal(0x89UL, tssLow >> 40 & 0xFF);
        ulong tssBase = (tssLow >> 16 & 0xFF_FFFF) | (tssLow >> 56 & 0xFF) << 24;
        Assert.Equal(GuestImageLayout.TssAddress, tssBase);
        Assert.Equal(GuestImageLayout.KernelStackTop, elf.ReadPhysicalUInt64(GuestImageLayout.TssAddress + 4));

        byte[] idtr = elf.ReadPhysical(GuestImageLayout.IdtPointerAddress, 10);
        Assert.Equal(0xFFF, BinaryPrimitives.ReadUInt16LittleEndian(idtr));
        Assert.Equal(GuestImageLayout.IdtAddress, BinaryPrimitives.ReadUInt64LittleEndian(idtr.AsSpan(2)));
        var load = elf.Load;
        for (int vector = 0; vector < 256; vector++)
        {
            byte[] gate = elf.ReadPhysical(GuestImageLayout.IdtAddress + (ulong)vector * 16, 16);
            ulong handler = BinaryPrimitives.ReadUInt16LittleEndian(gate)
                            | (ulong)BinaryPrimitives.ReadUInt16LittleEndian(gate.AsSpan(6)) << 16
                            | (ulong)BinaryPrimitives.ReadUInt32LittleEndian(gate.AsSpan(8)) << 32;
            Assert.Equal(GuestImageLayout.KernelCodeSelector, BinaryPrimitives.ReadUInt16LittleEndian(gate.AsSpan(2)));
            Assert.Equal(vector == GuestImageLayout.HaltVector ? 0xEE : 0x8E, gate[5]);
            Assert.InRange(handler, GuestImageLayout.CodeAddress, load.PhysicalAddress + load.FileSize - 1);
        }
    }

    [Fact]
    public void Building_twice_gives_the_same_bytes()
    {
        foreach (var guest in TestGuestCatalog.All)
            Assert.Equal(guest.BuildElf(), guest.BuildElf());
    }

    [Fact]
    public void Writer_rejects_an_entry_outside_the_segment_and_a_memory_size_below_the_file_size()
    {
        byte[] segment = new byte[0x100];
        Assert.Throws<ArgumentOutOfRangeException>(() => PvhElfWriter.Write(0x10_0000, segment, 0x100, 0x20_0000));
        Assert.Throws<ArgumentOutOfRangeException>(() => PvhElfWriter.Write(0x10_0000, segment, 0x80, 0x10_0000));
        Assert.Throws<ArgumentOutOfRangeException>(() => PvhElfWriter.Write(0x10_0010, segment, 0x100, 0x10_0010));
        var elf = new ElfImage(PvhElfWriter.Write(0x20_0000, segment, 0x3000, 0x20_0040));
        Assert.Equal(0x20_0040UL, elf.Entry);
        Assert.Equal(0x3000UL, elf.Load.MemorySize);
        Assert.Equal(0x100UL, elf.Load.FileSize);
    }

    [Fact]
    public void Io_echo_uses_both_encodings_of_in_and_out_at_every_width()
    {
        var elf = Build("io-echo");
        var load = elf.Load;
        ulong start = GuestImageLayout.CodeAddress;
        byte[] code = elf.ReadPhysical(start, (int)(load.PhysicalAddress + load.FileSize - start));
        var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(code));
        decoder.IP = start;
        var seen = new HashSet<Code>();
        while (decoder.IP < start + (ulong)code.Length) seen.Add(decoder.Decode().Code);
        foreach (var expected in new[]
                 {
                     Code.In_AL_imm8, Code.In_AX_imm8, Code.In_EAX_imm8, Code.In_AL_DX, Code.In_AX_DX, Code.In_EAX_DX,
                     Code.Out_imm8_AL, Code.Out_imm8_AX, Code.Out_imm8_EAX, Code.Out_DX_AL, Code.Out_DX_AX, Code.Out_DX_EAX,
                 })
            Assert.Contains(expected, seen);
    }
}
