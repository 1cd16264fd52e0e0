using System.Buffers.Binary;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;
using L = Sharpvisor.Machine.Boot.BootParamsLayout;

namespace Sharpvisor.Machine.Boot;

/// <summary>
/// Loads a Linux bzImage with the 64-bit boot protocol (Documentation/arch/x86/boot.rst): protected-mode kernel in
/// RAM, boot_params (zero page) with the setup header, command line, initrd, E820 map and RSDP filled in, identity
/// page tables and a flat GDT, and the vCPU in long mode at startup_64 with RSI pointing at boot_params.
/// </summary>
public static class BzImageLoader
{
    /// <summary>startup_64 lies 0x200 bytes into the protected-mode kernel.</summary>
    public const ulong Entry64Offset = 0x200;

    public static LoadedKernel Load(GuestMemory memory, ReadOnlySpan<byte> image, ReadOnlySpan<byte> initrd,
        string commandLine, ulong rsdpAddress, E820Map memoryMap)
    {
        var header = LinuxSetupHeader.Parse(image);
        ReadOnlySpan<byte> kernel = image[header.SetupSize..];
        var (loadAddress, kernelEnd) = ChooseLoadAddress(header, (ulong)kernel.Length, memoryMap);

        if (memoryMap.Entries.Count > E820Map.MaxBootParamsEntries)
            throw new KernelImageException(
                $"the memory map has {memoryMap.Entries.Count} entries; boot_params holds at most {E820Map.MaxBootParamsEntries}");

        memory.Write(loadAddress, kernel);
        ulong commandLineAddress = BootPlacement.WriteCommandLine(memory, commandLine, header.CommandLineSize);

        ulong? initrdAddress = null;
        if (!initrd.IsEmpty)
        {
            // initrd_addr_max is the highest address the initrd may occupy; keep it below 4 GiB as well, since
            // ramdisk_image is 32 bits wide unless the kernel reads ext_ramdisk_image.
            ulong limitEnd = Math.Min((ulong)header.InitrdAddressMax + 1, X86MemoryLayout.MmioHoleEnd);
            initrdAddress = BootPlacement.PlaceInitrd(memoryMap, (ulong)initrd.Length, limitEnd, loadAddress, kernelEnd);
            memory.Write(initrdAddress.Value, initrd);
        }

        memory.Write(X86MemoryLayout.BootParamsAddress,
            BuildBootParams(image, header, loadAddress, commandLineAddress, initrdAddress, (ulong)initrd.Length,
                rsdpAddress, memoryMap));

        ulong cr3 = IdentityPageTables.Write(memory);
        DescriptorTable gdt = BootGdt.WriteLongMode(memory);
        ulong entry = loadAddress + Entry64Offset;
        var data = SegmentRegister.Data(BootGdt.DataSelector);
        var cpu = new CpuState
        {
            Registers = new GeneralRegisters
            {
                Rip = entry,
                Rsi = X86MemoryLayout.BootParamsAddress,
                Rsp = X86MemoryLayout.BootStackTop,
                Rflags = 0x2,                                      // IF clear: interrupts off
            },
            Cs = SegmentRegister.Code64(BootGdt.CodeSelector),
            Ds = data, Es = data, Fs = data, Gs = data, Ss = data,
            Tr = BootGdt.LongModeTaskRegister(),
            Gdt = gdt,
            Idt = new DescriptorTable(X86MemoryLayout.IdtAddress, 0),
            Cr0 = CpuState.Cr0ProtectionEnable | CpuState.Cr0ExtensionType | CpuState.Cr0NumericError | CpuState.Cr0Paging,
            Cr3 = cr3,
            Cr4 = CpuState.Cr4Pae,
            Efer = CpuState.EferLongModeEnable | CpuState.EferLongModeActive,
        };

        return new LoadedKernel
        {
            Format = KernelImageFormat.BzImage,
            BootCpu = cpu,
            EntryPoint = entry,
            KernelStart = loadAddress,
            KernelEnd = kernelEnd,
            CommandLineAddress = commandLineAddress,
            InitrdAddress = initrdAddress,
            InitrdSize = (ulong)initrd.Length,
            BootInfoAddress = X86MemoryLayout.BootParamsAddress,
            MemoryMap = memoryMap,
        };
    }

    /// <summary>
    /// Where the protected-mode kernel goes, and the end of the memory it will use. The decompressor works in
    /// [start, start + init_size) where start is pref_address for a fixed kernel, and for a relocatable one the
    /// load address rounded up to kernel_alignment but never below pref_address (LOAD_PHYSICAL_ADDR). Loading at
    /// pref_address avoids a self-move; 1 MiB is the classic fallback for a relocatable kernel.
    /// </summary>
    private static (ulong Load, ulong End) ChooseLoadAddress(LinuxSetupHeader header, ulong kernelLength, E820Map map)
    {
        var candidates = new List<ulong>();
        if (header.PreferredAddress >= X86MemoryLayout.KernelLoadAddress) candidates.Add(header.PreferredAddress);
        if (header.Relocatable || header.PreferredAddress < X86MemoryLayout.KernelLoadAddress)
            candidates.Add(X86MemoryLayout.KernelLoadAddress);

        foreach (ulong load in candidates)
        {
            ulong workStart = header.Relocatable
                ? Math.Max(BootPlacement.AlignUp(load, Math.Max(header.KernelAlignment, 1)), header.PreferredAddress)
                : Math.Max(header.PreferredAddress, load);
            ulong end = BootPlacement.AlignUp(Math.Max(load + kernelLength, workStart + header.InitSize), BootPlacement.PageSize);
            if (map.IsUsableRam(load, end - load)) return (load, end);
        }
        ulong first = candidates[0];
        throw new KernelImageException(
            $"the kernel needs 0x{Math.Max(kernelLength, header.InitSize):x} bytes of RAM at 0x{first:x} " +
            $"(init_size 0x{header.InitSize:x}, pref_address 0x{header.PreferredAddress:x}" +
            (header.Relocatable ? "" : ", not relocatable") + "), which this guest's memory does not have");
    }

    private static byte[] BuildBootParams(ReadOnlySpan<byte> image, LinuxSetupHeader header, ulong loadAddress,
        ulong commandLineAddress, ulong? initrdAddress, ulong initrdSize, ulong rsdpAddress, E820Map map)
    {
        var bp = new byte[L.Size];
        var p = bp.AsSpan();
        image[L.SetupHeader..header.HeaderEnd].CopyTo(p[L.SetupHeader..]);

        p[L.TypeOfLoader] = L.LoaderTypeUndefined;
        // LOADED_HIGH stays set; the heap and segment flags only concern the 16-bit setup code we skip.
        p[L.LoadFlags] = (byte)(header.LoadFlags & ~(L.LoadFlagCanUseHeap | L.LoadFlagKeepSegments));
        BinaryPrimitives.WriteUInt16LittleEndian(p[L.HeapEndPtr..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(p[L.Code32Start..], (uint)loadAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(p[L.HardwareSubarch..], 0);        // X86_SUBARCH_PC
        BinaryPrimitives.WriteUInt64LittleEndian(p[L.SetupData..], 0);

        BinaryPrimitives.WriteUInt32LittleEndian(p[L.CmdLinePtr..], (uint)commandLineAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(p[L.ExtCmdLinePtr..], (uint)(commandLineAddress >> 32));

        ulong ramdisk = initrdAddress ?? 0;
        BinaryPrimitives.WriteUInt32LittleEndian(p[L.RamdiskImage..], (uint)ramdisk);
        BinaryPrimitives.WriteUInt32LittleEndian(p[L.ExtRamdiskImage..], (uint)(ramdisk >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(p[L.RamdiskSize..], (uint)initrdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(p[L.ExtRamdiskSize..], (uint)(initrdSize >> 32));

        BinaryPrimitives.WriteUInt64LittleEndian(p[L.AcpiRsdpAddr..], rsdpAddress);

        p[L.E820Entries] = (byte)map.Entries.Count;
        for (int i = 0; i < map.Entries.Count; i++)
        {
            var e = map.Entries[i];
            var slot = p[(L.E820Table + i * E820Entry.BootParamsEntrySize)..];
            BinaryPrimitives.WriteUInt64LittleEndian(slot, e.Address);
            BinaryPrimitives.WriteUInt64LittleEndian(slot[8..], e.Size);
            BinaryPrimitives.WriteUInt32LittleEndian(slot[16..], (uint)e.Type);
        }
        return bp;
    }
}
