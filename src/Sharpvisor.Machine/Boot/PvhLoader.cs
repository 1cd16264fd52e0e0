using System.Buffers.Binary;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Boot;

/// <summary>
/// Boots an ELF kernel through the PVH entry point (Xen's HVM direct boot ABI, which Linux, our test guests and
/// others implement): PT_LOAD segments copied to their physical addresses, hvm_start_info with command line,
/// memory map, RSDP and the initrd as module 0, and the vCPU in flat 32-bit protected mode, paging off, at the
/// address the XEN_ELFNOTE_PHYS32_ENTRY note names, with EBX pointing at the start info.
/// </summary>
public static class PvhLoader
{
    public const uint XenElfNotePhys32Entry = 18;
    public const string XenNoteName = "Xen";

    public const uint StartInfoMagic = 0x336E_C578;
    public const uint StartInfoVersion = 1;            // version 1 has the memory map fields

    // struct hvm_start_info
    public const int MagicOffset = 0x00, VersionOffset = 0x04, FlagsOffset = 0x08, NrModulesOffset = 0x0C,
        ModlistPaddrOffset = 0x10, CmdlinePaddrOffset = 0x18, RsdpPaddrOffset = 0x20, MemmapPaddrOffset = 0x28,
        MemmapEntriesOffset = 0x30, StartInfoSize = 0x38;
    /// <summary>struct hvm_modlist_entry: paddr, size, cmdline_paddr, reserved (u64 each).</summary>
    public const int ModuleEntrySize = 32;
    /// <summary>struct hvm_memmap_table_entry: addr, size (u64), type, reserved (u32).</summary>
    public const int MemMapEntrySize = 24;

    /// <summary>The module list sits right after the start info, below the memory map at 0x6100.</summary>
    public const ulong ModuleListAddress = X86MemoryLayout.PvhStartInfoAddress + 0x40;
    public const int MaxMemMapEntries =
        (int)((X86MemoryLayout.BootParamsAddress - X86MemoryLayout.PvhMemMapAddress) / MemMapEntrySize);

    /// <summary>The 32-bit entry point from the Xen PHYS32_ENTRY note (its descriptor is 4 or 8 bytes wide).</summary>
    public static ulong FindPhys32Entry(ElfImage elf)
    {
        var note = elf.Notes.FirstOrDefault(n => n.Name == XenNoteName && n.Type == XenElfNotePhys32Entry)
            ?? throw new KernelImageException(
                "ELF kernel has no PVH entry point: no XEN_ELFNOTE_PHYS32_ENTRY (type 18, owner \"Xen\") note in its " +
                "PT_NOTE segments; build it with PVH support (Linux: CONFIG_PVH) or boot a bzImage");
        ulong entry = note.Descriptor.Length switch
        {
            4 => BinaryPrimitives.ReadUInt32LittleEndian(note.Descriptor),
            8 => BinaryPrimitives.ReadUInt64LittleEndian(note.Descriptor),
            var n => throw new KernelImageException($"the XEN_ELFNOTE_PHYS32_ENTRY note has a {n}-byte value; expected 4 or 8"),
        };
        if (entry > uint.MaxValue)
            throw new KernelImageException($"the PVH entry point 0x{entry:x} is above 4 GiB; a 32-bit entry cannot reach it");
        return entry;
    }

    public static LoadedKernel Load(GuestMemory memory, ReadOnlySpan<byte> image, ReadOnlySpan<byte> initrd,
        string commandLine, ulong rsdpAddress, E820Map memoryMap)
    {
        var elf = ElfImage.Parse(image);
        ulong entry = FindPhys32Entry(elf);
        var segments = elf.LoadSegments.Where(s => s.MemorySize > 0).ToList();
        if (segments.Count == 0) throw new KernelImageException("ELF kernel has no PT_LOAD segment with contents");

        foreach (var s in segments)
        {
            if (s.PhysicalAddress < X86MemoryLayout.KernelLoadAddress)
                throw new KernelImageException(
                    $"ELF segment at physical 0x{s.PhysicalAddress:x} lies below 1 MiB, where the boot structures and " +
                    "ACPI tables live; link the kernel at 1 MiB or above");
            if (!memory.IsRam(s.PhysicalAddress, s.MemorySize))
                throw new KernelImageException(
                    $"ELF segment 0x{s.PhysicalAddress:x}-0x{s.PhysicalEnd:x} is not inside guest RAM " +
                    $"({memory.TotalSize >> 20} MiB); give the guest more memory or check the kernel's physical addresses");
        }
        if (!segments.Any(s => entry >= s.PhysicalAddress && entry < s.PhysicalAddress + s.FileSize))
            throw new KernelImageException($"the PVH entry point 0x{entry:x} is not inside any loaded ELF segment");
        if (memoryMap.Entries.Count > MaxMemMapEntries)
            throw new KernelImageException($"the memory map has {memoryMap.Entries.Count} entries; PVH has room for {MaxMemMapEntries}");

        foreach (var s in segments)
        {
            memory.Write(s.PhysicalAddress, image.Slice((int)s.FileOffset, (int)s.FileSize));
            BootPlacement.Zero(memory, s.PhysicalAddress + s.FileSize, s.MemorySize - s.FileSize);
        }
        ulong kernelStart = segments.Min(s => s.PhysicalAddress);
        ulong kernelEnd = BootPlacement.AlignUp(segments.Max(s => s.PhysicalEnd), BootPlacement.PageSize);

        ulong commandLineAddress = BootPlacement.WriteCommandLine(memory, commandLine, ulong.MaxValue);

        ulong? initrdAddress = null;
        if (!initrd.IsEmpty)
        {
            initrdAddress = BootPlacement.PlaceInitrd(memoryMap, (ulong)initrd.Length, X86MemoryLayout.MmioHoleEnd,
                kernelStart, kernelEnd);
            memory.Write(initrdAddress.Value, initrd);
            var module = new byte[ModuleEntrySize];
            BinaryPrimitives.WriteUInt64LittleEndian(module, initrdAddress.Value);
            BinaryPrimitives.WriteUInt64LittleEndian(module.AsSpan(8), (ulong)initrd.Length);
            memory.Write(ModuleListAddress, module);                      // cmdline_paddr and reserved stay 0
        }

        var map = new byte[memoryMap.Entries.Count * MemMapEntrySize];
        for (int i = 0; i < memoryMap.Entries.Count; i++)
        {
            var e = memoryMap.Entries[i];
            var slot = map.AsSpan(i * MemMapEntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(slot, e.Address);
            BinaryPrimitives.WriteUInt64LittleEndian(slot[8..], e.Size);
            BinaryPrimitives.WriteUInt32LittleEndian(slot[16..], (uint)e.Type);
        }
        memory.Write(X86MemoryLayout.PvhMemMapAddress, map);

        var info = new byte[StartInfoSize];
        var si = info.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(si[MagicOffset..], StartInfoMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(si[VersionOffset..], StartInfoVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(si[NrModulesOffset..], initrdAddress is null ? 0u : 1u);
        BinaryPrimitives.WriteUInt64LittleEndian(si[ModlistPaddrOffset..], initrdAddress is null ? 0 : ModuleListAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(si[CmdlinePaddrOffset..], commandLineAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(si[RsdpPaddrOffset..], rsdpAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(si[MemmapPaddrOffset..], X86MemoryLayout.PvhMemMapAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(si[MemmapEntriesOffset..], (uint)memoryMap.Entries.Count);
        memory.Write(X86MemoryLayout.PvhStartInfoAddress, info);

        DescriptorTable gdt = BootGdt.WriteProtectedMode(memory);
        var data = SegmentRegister.Data(BootGdt.DataSelector);
        var cpu = new CpuState
        {
            Registers = new GeneralRegisters
            {
                Rip = entry,
                Rbx = X86MemoryLayout.PvhStartInfoAddress,
                // The ABI promises no stack; a valid one costs nothing and helps small test guests.
                Rsp = X86MemoryLayout.BootStackTop,
                Rflags = 0x2,                                              // IF clear
            },
            Cs = SegmentRegister.Code32(BootGdt.CodeSelector),
            Ds = data, Es = data, Fs = data, Gs = data, Ss = data,
            Tr = BootGdt.ProtectedModeTaskRegister(),
            Gdt = gdt,
            Idt = new DescriptorTable(X86MemoryLayout.IdtAddress, 0),
            // PE only; ET is hard-wired to 1 on every CPU that can run a VMM.
            Cr0 = CpuState.Cr0ProtectionEnable | CpuState.Cr0ExtensionType,
            Cr3 = 0,
            Cr4 = 0,
            Efer = 0,
        };

        return new LoadedKernel
        {
            Format = KernelImageFormat.PvhElf,
            BootCpu = cpu,
            EntryPoint = entry,
            KernelStart = kernelStart,
            KernelEnd = kernelEnd,
            CommandLineAddress = commandLineAddress,
            InitrdAddress = initrdAddress,
            InitrdSize = (ulong)initrd.Length,
            BootInfoAddress = X86MemoryLayout.PvhStartInfoAddress,
            MemoryMap = memoryMap,
        };
    }
}
