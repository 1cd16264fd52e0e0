using Iced.Intel;
using Sharpvisor.TestGuests.Building;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// virtio: a small virtio 1.x driver. From ring 3 it scans PCI bus 0 through ports 0xCF8/0xCFC for a virtio-rng and a
/// virtio-blk function (vendor 0x1AF4, device 0x1040 + type, or a transitional 0x1000-0x103F with the type in the
/// subsystem ID), walks their capability lists for the common, notify, ISR and device configuration structures and
/// MSI-X, reads the BARs the firmware or VMM assigned, and brings each device up the way the specification orders:
/// reset, ACKNOWLEDGE, DRIVER, features (VERSION_1, and FLUSH for the disk), FEATURES_OK read back, one split virtqueue
/// of at most 8 entries with its MSI-X vector, DRIVER_OK.
/// <para>Then five requests, alternating how completion is noticed: an MSI-X interrupt (a ring-0 handler counts it and
/// writes the local APIC's EOI; ring 3 waits for the count with interrupts on) or polling the used ring with
/// VRING_AVAIL_F_NO_INTERRUPT set. virtio-rng: 256 bytes by interrupt, 256 by polling; both must be non-zero and
/// differ. virtio-blk: capacity from the device configuration, a pattern (<see cref="VirtioGuestDisk"/>) written to
/// sector 1 (interrupt), read back and compared (polling), a flush (interrupt). At least one interrupt per interrupt
/// request must have arrived, and at most one more per polled request (NO_INTERRUPT is a hint the device may miss).</para>
/// <para>Ring 0 runs only a setup of 14 instructions (mask the PICs, enable the local APIC, iretq to ring 3 with
/// interrupts on and IOPL <see cref="TestGuestOptions.UserIopl"/>), the completion handler (6 instructions), and, where
/// the CPU refuses ring-3 port access (KVM on PVM), the #GP port emulation for each PCI configuration and COM1
/// access. There is no system-call gate: KVM on PVM answers a ring-3 int n with #UD. Every wait has a TSC deadline (<see cref="TestGuestOptions.VirtioWaitCycles"/>).</para>
/// </summary>
internal static class VirtioGuest
{
    public const string Name = "virtio";
    public const int RngVector = 0x50, BlockVector = 0x51, SpuriousVector = 0xFF;

    private const ushort VendorId = 0x1AF4;
    private const int RngType = 4, BlockType = 2;
    private const uint QueueEntries = 8;
    private const int RngBufferBytes = 256;

    // Memory the driver uses, identity-mapped: one 64 KiB area per device with its ring and buffers.
    private const ulong RngArea = GuestImageLayout.FreeMemoryStart, BlockArea = GuestImageLayout.FreeMemoryStart + 0x1_0000;
    private const int AvailOffset = 0x1000, UsedOffset = 0x2000;
    private const ulong RngBufferA = RngArea + 0x3000, RngBufferB = RngArea + 0x3200;
    private const ulong BlockHeader = BlockArea + 0x3000, BlockStatus = BlockArea + 0x3010;
    private const ulong BlockData = BlockArea + 0x4000, BlockReadBack = BlockArea + 0x5000;

    // Per-device driver state, a table in the data page (offsets of 8-byte fields).
    private const int ConfigAddress = 0, Common = 8, Notify = 16, NotifyMultiplier = 24, Isr = 32, DeviceConfig = 40,
        MsixTable = 48, MsixCapability = 56, QueueSize = 64, QueueNotify = 72, AvailIndex = 80, UsedIndex = 88,
        Ring = 96, InterruptCount = 104, InterruptSnapshot = 112, Vector = 120, DeviceName = 128, DeviceId = 136,
        WantedFeatures = 144, Features = 152, Polled = 160, Interrupted = 168, StateSize = 176;

    // PCI configuration space.
    private const int PciCommand = 0x04, PciSubsystem = 0x2C, PciCapabilityPointer = 0x34, PciBar0 = 0x10;
    private const int CommandMemory = 0x2, CommandBusMaster = 0x4, CommandInterruptDisable = 0x400;
    private const int StatusCapabilitiesBit = 16 + 4;
    private const byte VendorCapability = 0x09, MsixCapabilityId = 0x11;

    // struct virtio_pci_common_cfg.
    private const int DeviceFeatureSelect = 0x00, DeviceFeature = 0x04, DriverFeatureSelect = 0x08, DriverFeature = 0x0C,
        ConfigMsixVector = 0x10, DeviceStatus = 0x14, QueueSelect = 0x16, QueueSizeRegister = 0x18,
        QueueMsixVector = 0x1A, QueueEnable = 0x1C, QueueNotifyOff = 0x1E, QueueDesc = 0x20, QueueDriver = 0x28,
        QueueDevice = 0x30;
    private const byte Acknowledge = 1, Driver = 2, DriverOk = 4, FeaturesOk = 8, NeedsReset = 0x40;
    private const int BlockFlushFeature = 1 << 9;
    private const ushort NoVector = 0xFFFF;

    private const ushort DescriptorNext = 1, DescriptorWrite = 2, AvailNoInterrupt = 1;
    private const uint BlockIn = 0, BlockOut = 1, BlockFlush = 4;

    private const uint LocalApicEoi = (uint)GuestImageLayout.LocalApicAddress + 0xB0;

    public static TestGuest Create() => new(
        Name,
        "A virtio 1.x driver: finds virtio-rng and virtio-blk on PCI, reads entropy, writes/reads back/flushes a sector, MSI-X and polling.",
        TestGuestRequirements.LocalApic | TestGuestRequirements.VirtioEntropy | TestGuestRequirements.VirtioBlock,
        minimumMemoryMiB: 32,
        options => GuestImageBuilder.BuildElf(Name, GuestPrivilege.Kernel, p => Emit(p, options), options.UserIopl));

    /// <summary>The routines of the driver, shared by both devices; each works on the state table at RBX.</summary>
    private sealed class Routines(Assembler a)
    {
        public Label PciRead = a.CreateLabel("pci_read"), PciWrite = a.CreateLabel("pci_write"),
            BarAddress = a.CreateLabel("bar_address"), Probe = a.CreateLabel("probe"),
            Initialize = a.CreateLabel("initialize"), Submit = a.CreateLabel("submit");
    }

    private static void Emit(GuestProgram p, TestGuestOptions options)
    {
        var a = p.Asm;
        var r = new Routines(a);
        ulong rng = p.AllocateData(StateSize), block = p.AllocateData(StateSize);
        ulong rngLengthA = p.AllocateData(8), rngLengthB = p.AllocateData(8), capacity = p.AllocateData(8);
        ulong spurious = p.AllocateData(8);
        var main = a.CreateLabel("setup");
        a.jmp(main);

        // ---------------------------------------------------------------- ring 0
        EmitCompletionHandler(p, RngVector, rng);
        EmitCompletionHandler(p, BlockVector, block);
        p.BeginInterruptHandler(SpuriousVector);           // no EOI for a spurious interrupt
        a.inc(__qword_ptr[spurious]);
        a.iretq();

        // ---------------------------------------------------------------- ring 3 routines
        EmitPciAccess(p, r);
        EmitBarAddress(p, r);
        EmitProbe(p, r);
        EmitInitialize(p, r);
        EmitSubmit(p, r, options.VirtioWaitCycles);

        // ---------------------------------------------------------------- main: ring 0 setup, then the driver in ring 3
        // Software interrupts from ring 3 raise #UD on KVM-on-PVM, so there is no gate to call later: the ring-0 part
        // happens here, once, before the driver drops to ring 3 with interrupts on.
        a.Label(ref main);
        // The legacy PICs would deliver their IRQs through LINT0 once interrupts are on: mask them all.
        a.mov(al, 0xFF);
        a.@out(0x21, al);
        a.@out(0xA1, al);
        // Software-enable the local APIC (spurious vector 0xFF) and accept every priority.
        a.mov(eax, (uint)GuestImageLayout.LocalApicAddress);
        a.mov(__dword_ptr[rax + 0x80], 0);
        a.mov(__dword_ptr[rax + 0xF0], 0x100 | SpuriousVector);
        var driver = a.CreateLabel("driver");
        a.mov(__qword_ptr[GuestImageLayout.UserStackTop - 8], 0);   // the driver never returns
        a.push(GuestImageLayout.UserDataSelector | 3);
        a.push((int)(GuestImageLayout.UserStackTop - 8));
        a.push(0x202 | options.UserIopl << 12);                      // IF, and the IOPL the options ask for
        a.push(GuestImageLayout.UserCodeSelector | 3);
        a.lea(rax, __[driver]);
        a.push(rax);
        a.iretq();

        a.Label(ref driver);
        InitializeState(p, rng, "virtio-rng", RngArea, RngVector, 0);
        InitializeState(p, block, "virtio-blk", BlockArea, BlockVector, BlockFlushFeature);
        EmitEnumeration(p, r, rng, block);

        a.mov(ebx, (uint)rng);
        a.call(r.Probe);
        a.call(r.Initialize);
        a.mov(ebx, (uint)block);
        a.call(r.Probe);
        a.cmp(__qword_ptr[rbx + DeviceConfig], 0);
        var haveBlockConfig = a.CreateLabel();
        a.jne(haveBlockConfig);
        DeviceFail(p, "no device configuration capability");
        a.Label(ref haveBlockConfig);
        a.call(r.Initialize);
        PrintDevice(p, rng);
        PrintDevice(p, block);

        EmitEntropyRequests(p, r, rng, rngLengthA, rngLengthB);
        EmitBlockRequests(p, r, block, capacity);

        // At least one interrupt per interrupt-driven request. A polled request sets NO_INTERRUPT, which is only a hint:
        // the device reads the flag after publishing the used entry, and by then the driver may have cleared it for
        // its next (interrupt-driven) request, so each polled request may add one.
        var wrongCount = a.CreateLabel();
        var countsRight = a.CreateLabel();
        foreach (var device in new[] { rng, block })
        {
            a.mov(rax, __qword_ptr[device + InterruptCount]);
            a.cmp(rax, __qword_ptr[device + Interrupted]);
            a.jb(wrongCount);
            a.mov(rdx, __qword_ptr[device + Interrupted]);
            a.add(rdx, __qword_ptr[device + Polled]);
            a.cmp(rax, rdx);
            a.ja(wrongCount);
        }
        a.jmp(countsRight);
        a.Label(ref wrongCount);
        a.call(p.FailBegin);
        p.Print("interrupts counted: virtio-rng ");
        a.mov(rdi, __qword_ptr[rng + InterruptCount]);
        a.call(p.PutDecimal);
        p.Print(" virtio-blk ");
        a.mov(rdi, __qword_ptr[block + InterruptCount]);
        a.call(p.PutDecimal);
        p.Print(", expected one per interrupt-driven request (1 and 2), plus at most one per polled request");
        a.call(p.FailEnd);
        a.Label(ref countsRight);

        // Leave both devices reset, as a driver that unloads does.
        a.mov(rax, __qword_ptr[rng + Common]);
        a.mov(__byte_ptr[rax + DeviceStatus], 0);
        a.mov(rax, __qword_ptr[block + Common]);
        a.mov(__byte_ptr[rax + DeviceStatus], 0);

        p.ReadTimeStampCounter();
        a.sub(rax, __qword_ptr[p.EntryTimeStampSlot]);
        a.mov(r12, rax);
        p.Print($"{Name}: ");
        a.mov(rdi, __qword_ptr[rng + Interrupted]);
        a.add(rdi, __qword_ptr[block + Interrupted]);
        a.call(p.PutDecimal);
        p.Print(" requests completed by MSI-X, ");
        a.mov(rdi, __qword_ptr[rng + Polled]);
        a.add(rdi, __qword_ptr[block + Polled]);
        a.call(p.PutDecimal);
        p.Print(" by polling, ");
        a.mov(rdi, __qword_ptr[spurious]);
        a.call(p.PutDecimal);
        p.Print(" spurious; ");
        p.PrintDecimal(r12);
        p.Print(" tsc cycles since entry; port accesses emulated after #GP: ");
        a.mov(rdi, __qword_ptr[p.EmulatedPortAccessesSlot]);
        a.call(p.PutDecimal);
        a.call(p.NewLine);
        a.jmp(p.Pass);
    }

    /// <summary>Ring 0: count the completion of the device whose state is at <paramref name="state"/>, then EOI.</summary>
    private static void EmitCompletionHandler(GuestProgram p, int vector, ulong state)
    {
        var a = p.Asm;
        p.BeginInterruptHandler(vector);
        a.push(rax);
        a.inc(__qword_ptr[state + InterruptCount]);
        a.mov(eax, LocalApicEoi);
        a.mov(__dword_ptr[rax], 0);
        a.pop(rax);
        a.iretq();
    }

    private static void InitializeState(GuestProgram p, ulong state, string name, ulong area, int vector, int features)
    {
        var a = p.Asm;
        a.lea(rax, __[p.Text(name)]);
        a.mov(__qword_ptr[state + DeviceName], rax);
        a.mov(__qword_ptr[state + Ring], (int)area);
        a.mov(__qword_ptr[state + Vector], vector);
        a.mov(__qword_ptr[state + WantedFeatures], features);
    }

    /// <summary>Prints "FAIL virtio: &lt;device name&gt;: reason" for the device at RBX and exits.</summary>
    private static void DeviceFail(GuestProgram p, string reason)
    {
        var a = p.Asm;
        a.call(p.FailBegin);
        a.mov(rdi, __qword_ptr[rbx + DeviceName]);
        a.call(p.PutString);
        p.Print(": " + reason);
        a.call(p.FailEnd);
    }

    /// <summary>pci_read(edi = CONFIG_ADDRESS) -> eax; pci_write(edi = CONFIG_ADDRESS, esi = value). Clobber eax, edx.</summary>
    private static void EmitPciAccess(GuestProgram p, Routines r)
    {
        var a = p.Asm;
        a.Label(ref r.PciRead);
        a.mov(eax, edi);
        a.mov(edx, 0xCF8);
        a.@out(dx, eax);
        a.mov(edx, 0xCFC);
        a.@in(eax, dx);
        a.ret();

        a.Label(ref r.PciWrite);
        a.mov(eax, edi);
        a.mov(edx, 0xCF8);
        a.@out(dx, eax);
        a.mov(eax, esi);
        a.mov(edx, 0xCFC);
        a.@out(dx, eax);
        a.ret();
    }

    /// <summary>bar_address(edi = BAR index) -> rax: the memory address BAR edi of the function at RBX decodes, 32- or
    /// 64-bit; 0 for an I/O BAR or an index past the last. Clobbers rax, rcx, rdx, rsi, rdi, r8.</summary>
    private static void EmitBarAddress(GuestProgram p, Routines r)
    {
        var a = p.Asm;
        var none = a.CreateLabel();
        var narrow = a.CreateLabel();
        a.Label(ref r.BarAddress);
        a.cmp(edi, 5);
        a.ja(none);
        a.mov(esi, edi);
        a.lea(edi, __[rsi * 4 + PciBar0]);
        a.or(edi, __dword_ptr[rbx + ConfigAddress]);
        a.call(r.PciRead);
        a.test(al, 1);
        a.jnz(none);
        a.mov(ecx, eax);
        a.and(ecx, 6);
        a.cmp(ecx, 4);
        a.jne(narrow);
        a.cmp(esi, 5);                                   // a 64-bit BAR needs the next register for its high half
        a.jae(none);
        a.mov(r8d, eax);
        a.and(r8d, ~0xF);
        a.lea(edi, __[rsi * 4 + PciBar0 + 4]);
        a.or(edi, __dword_ptr[rbx + ConfigAddress]);
        a.call(r.PciRead);
        a.shl(rax, 32);
        a.or(rax, r8);
        a.ret();
        a.Label(ref narrow);
        a.and(eax, ~0xF);
        a.ret();
        a.Label(ref none);
        a.xor(eax, eax);
        a.ret();
    }

    /// <summary>
    /// Scans slots 0-31 of bus 0 for the first virtio-rng and virtio-blk functions and records CONFIG_ADDRESS and the
    /// device ID in their state. Fails if either is missing.
    /// </summary>
    private static void EmitEnumeration(GuestProgram p, Routines r, ulong rng, ulong block)
    {
        var a = p.Asm;
        Label L() => a.CreateLabel();
        Label slot = L(), next = L(), haveType = L(), record = L(), rngFound = L(), blockFound = L();

        a.xor(r12d, r12d);
        a.Label(ref slot);
        a.mov(edi, r12d);
        a.shl(edi, 11);
        a.or(edi, unchecked((int)0x8000_0000));
        a.mov(r15d, edi);                                // CONFIG_ADDRESS of the slot's function 0
        a.call(r.PciRead);
        a.cmp(ax, VendorId);
        a.jne(next);
        a.mov(r13d, eax);
        a.shr(r13d, 16);                                 // device ID
        a.lea(r14d, __[r13 - 0x1040]);
        a.cmp(r14d, 0x3F);
        a.jbe(haveType);
        a.lea(r14d, __[r13 - 0x1000]);
        a.cmp(r14d, 0x3F);
        a.ja(next);
        a.lea(edi, __[r15 + PciSubsystem]);              // transitional: the type is the subsystem ID
        a.call(r.PciRead);
        a.shr(eax, 16);
        a.mov(r14d, eax);
        a.Label(ref haveType);
        a.mov(ebx, (uint)rng);
        a.cmp(r14d, RngType);
        a.je(record);
        a.mov(ebx, (uint)block);
        a.cmp(r14d, BlockType);
        a.jne(next);
        a.Label(ref record);
        a.cmp(__qword_ptr[rbx + ConfigAddress], 0);      // the first function of each type wins
        a.jne(next);
        a.mov(__qword_ptr[rbx + ConfigAddress], r15);
        a.mov(__qword_ptr[rbx + DeviceId], r13);
        a.Label(ref next);
        a.inc(r12d);
        a.cmp(r12d, 32);
        a.jb(slot);

        a.cmp(__qword_ptr[rng + ConfigAddress], 0);
        a.jne(rngFound);
        p.FailWith("no virtio-rng function (1af4:1044 or transitional 1af4:1005) on PCI bus 0");
        a.Label(ref rngFound);
        a.cmp(__qword_ptr[block + ConfigAddress], 0);
        a.jne(blockFound);
        p.FailWith("no virtio-blk function (1af4:1042 or transitional 1af4:1001) on PCI bus 0");
        a.Label(ref blockFound);
    }

    /// <summary>
    /// probe(): walks the capability list of the function at RBX; the first usable common, notify, ISR and device
    /// configuration structures and the MSI-X table get their addresses recorded. Fails if one it needs is missing.
    /// Uses r12-r15.
    /// </summary>
    private static void EmitProbe(GuestProgram p, Routines r)
    {
        var a = p.Asm;
        Label L() => a.CreateLabel();
        Label hasList = L(), loop = L(), vendor = L(), msix = L(), next = L(), done = L(), loops = L(), notNotify = L(),
            store = L(), haveCommon = L(), haveNotify = L(), haveIsr = L(), haveMsix = L();

        a.Label(ref r.Probe);
        a.mov(edi, __dword_ptr[rbx + ConfigAddress]);
        a.or(edi, PciCommand);
        a.call(r.PciRead);
        a.bt(eax, StatusCapabilitiesBit);
        a.jc(hasList);
        DeviceFail(p, "no capability list");
        a.Label(ref hasList);
        a.mov(edi, __dword_ptr[rbx + ConfigAddress]);
        a.or(edi, PciCapabilityPointer);
        a.call(r.PciRead);
        a.movzx(r12d, al);
        a.and(r12d, 0xFC);
        a.mov(r15d, 48);                                 // at most 48 capabilities fit in 256 bytes: a longer list loops

        a.Label(ref loop);
        a.test(r12d, r12d);
        a.jz(done);
        a.dec(r15d);
        a.jz(loops);
        a.mov(edi, __dword_ptr[rbx + ConfigAddress]);
        a.or(edi, r12d);
        a.call(r.PciRead);
        a.mov(r13d, eax);                                // ID, next, and for virtio cap_len and cfg_type
        a.cmp(al, MsixCapabilityId);
        a.je(msix);
        a.cmp(al, VendorCapability);
        a.jne(next);

        a.Label(ref vendor);
        a.lea(edi, __[r12 + 4]);
        a.or(edi, __dword_ptr[rbx + ConfigAddress]);
        a.call(r.PciRead);
        a.movzx(edi, al);                                // bar
        a.call(r.BarAddress);
        a.mov(r14, rax);
        a.test(r14, r14);
        a.jz(next);
        a.mov(rax, r14);
        a.shr(rax, 32);                                  // the guest maps only the first 4 GiB
        a.jnz(next);
        a.lea(edi, __[r12 + 8]);
        a.or(edi, __dword_ptr[rbx + ConfigAddress]);
        a.call(r.PciRead);
        a.add(r14, rax);                                 // + offset
        a.mov(eax, r13d);
        a.shr(eax, 24);                                  // cfg_type
        a.mov(ecx, Common);
        a.cmp(eax, 1);
        a.je(store);
        a.cmp(eax, 2);
        a.jne(notNotify);
        a.cmp(__qword_ptr[rbx + Notify], 0);
        a.jne(next);
        a.lea(edi, __[r12 + 16]);
        a.or(edi, __dword_ptr[rbx + ConfigAddress]);
        a.call(r.PciRead);
        a.mov(__qword_ptr[rbx + NotifyMultiplier], rax);
        a.mov(ecx, Notify);
        a.jmp(store);
        a.Label(ref notNotify);
        a.mov(ecx, Isr);
        a.cmp(eax, 3);
        a.je(store);
        a.mov(ecx, DeviceConfig);
        a.cmp(eax, 4);
        a.jne(next);
        a.Label(ref store);                              // the first structure of each type is the one to use
        a.cmp(__qword_ptr[rbx + rcx], 0);
        a.jne(next);
        a.mov(__qword_ptr[rbx + rcx], r14);
        a.jmp(next);

        a.Label(ref msix);
        a.mov(__qword_ptr[rbx + MsixCapability], r12);
        a.lea(edi, __[r12 + 4]);
        a.or(edi, __dword_ptr[rbx + ConfigAddress]);
        a.call(r.PciRead);
        a.mov(r14d, eax);
        a.mov(edi, eax);
        a.and(edi, 7);                                   // table BIR
        a.call(r.BarAddress);
        a.test(rax, rax);
        a.jz(next);
        a.mov(rcx, rax);
        a.shr(rcx, 32);
        a.jnz(next);
        a.and(r14d, ~7);
        a.add(rax, r14);
        a.mov(__qword_ptr[rbx + MsixTable], rax);

        a.Label(ref next);
        a.mov(r12d, r13d);
        a.shr(r12d, 8);
        a.and(r12d, 0xFC);
        a.jmp(loop);

        a.Label(ref loops);
        DeviceFail(p, "the capability list does not end");

        a.Label(ref done);
        foreach (var (field, label, what) in new[]
                 {
                     (Common, haveCommon, "common configuration"), (Notify, haveNotify, "notification"),
                     (Isr, haveIsr, "ISR"), (MsixTable, haveMsix, "MSI-X"),
                 })
        {
            var have = label;
            a.cmp(__qword_ptr[rbx + field], 0);
            a.jne(have);
            DeviceFail(p, $"no usable {what} capability (missing, or its BAR is not assigned below 4 GiB)");
            a.Label(ref have);
        }
        a.ret();
    }

    /// <summary>initialize(): the virtio 1.x initialization of the function at RBX, with queue 0 on MSI-X entry 0.</summary>
    private static void EmitInitialize(GuestProgram p, Routines r)
    {
        var a = p.Asm;
        Label L() => a.CreateLabel();
        Label resetWait = L(), resetDone = L(), version1 = L(), featuresOk = L(), haveQueue = L(), sizeOk = L(),
            vectorOk = L(), live = L();

        a.Label(ref r.Initialize);
        // Bus mastering (DMA and MSI writes), memory decoding, and INTx off: completions come by MSI-X or polling.
        a.mov(edi, __dword_ptr[rbx + ConfigAddress]);
        a.or(edi, PciCommand);
        a.call(r.PciRead);
        a.and(eax, 0xFFFF);                              // status bits are write-one-to-clear: write zeros
        a.or(eax, CommandMemory | CommandBusMaster | CommandInterruptDisable);
        a.mov(esi, eax);
        a.mov(edi, __dword_ptr[rbx + ConfigAddress]);
        a.or(edi, PciCommand);
        a.call(r.PciWrite);

        a.mov(r12, __qword_ptr[rbx + Common]);
        a.mov(__byte_ptr[r12 + DeviceStatus], 0);        // reset, complete once the status reads 0
        a.mov(ecx, 1_000_000);
        a.Label(ref resetWait);
        a.cmp(__byte_ptr[r12 + DeviceStatus], 0);
        a.je(resetDone);
        a.pause();
        a.dec(ecx);
        a.jnz(resetWait);
        DeviceFail(p, "the status does not read 0 after a reset");
        a.Label(ref resetDone);
        a.mov(__byte_ptr[r12 + DeviceStatus], Acknowledge);
        a.mov(__byte_ptr[r12 + DeviceStatus], Acknowledge | Driver);

        a.mov(__dword_ptr[r12 + DeviceFeatureSelect], 1);
        a.test(__dword_ptr[r12 + DeviceFeature], 1);     // VERSION_1 is feature bit 32
        a.jnz(version1);
        DeviceFail(p, "the device does not offer VIRTIO_F_VERSION_1");
        a.Label(ref version1);
        a.mov(__dword_ptr[r12 + DeviceFeatureSelect], 0);
        a.mov(eax, __dword_ptr[r12 + DeviceFeature]);
        a.and(eax, __dword_ptr[rbx + WantedFeatures]);
        a.mov(__qword_ptr[rbx + Features], rax);
        a.mov(__dword_ptr[r12 + DriverFeatureSelect], 0);
        a.mov(__dword_ptr[r12 + DriverFeature], eax);
        a.mov(__dword_ptr[r12 + DriverFeatureSelect], 1);
        a.mov(__dword_ptr[r12 + DriverFeature], 1);
        a.mov(__byte_ptr[r12 + DeviceStatus], Acknowledge | Driver | FeaturesOk);
        a.test(__byte_ptr[r12 + DeviceStatus], FeaturesOk);
        a.jnz(featuresOk);
        DeviceFail(p, "FEATURES_OK did not stick");
        a.Label(ref featuresOk);

        // MSI-X on, function unmasked; entry 0 sends the device's vector to the local APIC of CPU 0, unmasked.
        a.mov(edi, __dword_ptr[rbx + ConfigAddress]);
        a.or(edi, __dword_ptr[rbx + MsixCapability]);
        a.call(r.PciRead);
        a.or(eax, unchecked((int)0x8000_0000));
        a.and(eax, ~0x4000_0000);
        a.mov(esi, eax);
        a.mov(edi, __dword_ptr[rbx + ConfigAddress]);
        a.or(edi, __dword_ptr[rbx + MsixCapability]);
        a.call(r.PciWrite);
        a.mov(rax, __qword_ptr[rbx + MsixTable]);
        a.mov(__dword_ptr[rax], unchecked((int)(uint)GuestImageLayout.LocalApicAddress));
        a.mov(__dword_ptr[rax + 4], 0);
        a.mov(ecx, __dword_ptr[rbx + Vector]);
        a.mov(__dword_ptr[rax + 8], ecx);
        a.mov(__dword_ptr[rax + 12], 0);
        a.mov(__word_ptr[r12 + ConfigMsixVector], unchecked((short)NoVector));

        // Queue 0: at most 8 entries, rings zeroed, vector 0.
        a.mov(__word_ptr[r12 + QueueSelect], 0);
        a.movzx(eax, __word_ptr[r12 + QueueSizeRegister]);
        a.test(eax, eax);
        a.jnz(haveQueue);
        DeviceFail(p, "queue 0 does not exist");
        a.Label(ref haveQueue);
        a.cmp(eax, QueueEntries);
        a.jbe(sizeOk);
        a.mov(eax, QueueEntries);
        a.mov(__word_ptr[r12 + QueueSizeRegister], ax);
        a.Label(ref sizeOk);
        a.mov(__qword_ptr[rbx + QueueSize], rax);
        a.mov(__word_ptr[r12 + QueueMsixVector], 0);
        a.cmp(__word_ptr[r12 + QueueMsixVector], 0);
        a.je(vectorOk);
        DeviceFail(p, "the device refused MSI-X entry 0 for queue 0");
        a.Label(ref vectorOk);
        a.mov(rax, __qword_ptr[rbx + Ring]);
        a.mov(__dword_ptr[rax + AvailOffset], 0);        // avail flags and idx
        a.mov(__dword_ptr[rax + UsedOffset], 0);         // used flags and idx
        a.mov(__qword_ptr[rbx + AvailIndex], 0);
        a.mov(__qword_ptr[rbx + UsedIndex], 0);
        foreach (var (register, offset) in new[] { (QueueDesc, 0), (QueueDriver, AvailOffset), (QueueDevice, UsedOffset) })
        {
            // 64-bit registers, written as two 32-bit halves as the specification allows (and QEMU requires).
            a.lea(rcx, __[rax + offset]);
            a.mov(__dword_ptr[r12 + register], ecx);
            a.shr(rcx, 32);
            a.mov(__dword_ptr[r12 + register + 4], ecx);
        }
        a.mov(__word_ptr[r12 + QueueEnable], 1);
        a.movzx(eax, __word_ptr[r12 + QueueNotifyOff]);
        a.imul(eax, __dword_ptr[rbx + NotifyMultiplier]);
        a.add(rax, __qword_ptr[rbx + Notify]);
        a.mov(__qword_ptr[rbx + QueueNotify], rax);

        a.mov(__byte_ptr[r12 + DeviceStatus], Acknowledge | Driver | FeaturesOk | DriverOk);
        a.test(__byte_ptr[r12 + DeviceStatus], NeedsReset);
        a.jz(live);
        DeviceFail(p, "DEVICE_NEEDS_RESET after DRIVER_OK");
        a.Label(ref live);
        a.ret();
    }

    /// <summary>
    /// submit(edi = 0: wait for the MSI-X interrupt, 1: poll with VRING_AVAIL_F_NO_INTERRUPT) -> eax = used length.
    /// Puts the chain at descriptor 0 into the available ring of the device at RBX, notifies it and waits, with a TSC
    /// deadline, for the used ring to return descriptor 0. Clobbers rax, rcx, rdx, rsi, rdi, r8-r11.
    /// </summary>
    private static void EmitSubmit(GuestProgram p, Routines r, ulong waitCycles)
    {
        var a = p.Asm;
        Label L() => a.CreateLabel();
        Label waitInterrupt = L(), poll = L(), used = L(), badId = L(), countPolled = L(), noInterrupt = L(), noUsed = L();

        a.Label(ref r.Submit);
        a.mov(r11d, edi);
        a.mov(r8, __qword_ptr[rbx + Ring]);
        a.mov(__word_ptr[r8 + AvailOffset], di);         // flags: NO_INTERRUPT when polling
        a.mov(ecx, __dword_ptr[rbx + QueueSize]);
        a.dec(ecx);
        a.and(ecx, __dword_ptr[rbx + AvailIndex]);
        a.mov(__word_ptr[r8 + rcx * 2 + AvailOffset + 4], 0);   // the chain's head: descriptor 0
        a.mov(rax, __qword_ptr[rbx + InterruptCount]);
        a.mov(__qword_ptr[rbx + InterruptSnapshot], rax);
        a.mov(eax, __dword_ptr[rbx + AvailIndex]);
        a.inc(eax);
        a.movzx(eax, ax);
        a.mov(__qword_ptr[rbx + AvailIndex], rax);
        a.mfence();                                      // ring entry before idx, idx before the notification
        a.mov(__word_ptr[r8 + AvailOffset + 2], ax);
        a.mfence();
        a.mov(rcx, __qword_ptr[rbx + QueueNotify]);
        a.mov(__word_ptr[rcx], 0);                       // queue 0
        p.ReadTimeStampCounter();
        a.mov(r9, waitCycles);
        a.add(r9, rax);
        a.test(r11d, r11d);
        a.jnz(poll);

        a.Label(ref waitInterrupt);
        a.mov(rax, __qword_ptr[rbx + InterruptCount]);
        a.cmp(rax, __qword_ptr[rbx + InterruptSnapshot]);
        a.jne(poll);
        a.pause();
        p.ReadTimeStampCounter();
        a.cmp(rax, r9);
        a.jb(waitInterrupt);
        a.jmp(noInterrupt);

        a.Label(ref poll);
        a.movzx(eax, __word_ptr[r8 + UsedOffset + 2]);
        a.cmp(eax, __dword_ptr[rbx + UsedIndex]);
        a.jne(used);
        a.pause();
        p.ReadTimeStampCounter();
        a.cmp(rax, r9);
        a.jb(poll);
        a.jmp(noUsed);

        a.Label(ref used);
        a.mov(ecx, __dword_ptr[rbx + UsedIndex]);
        a.mov(edx, __dword_ptr[rbx + QueueSize]);
        a.dec(edx);
        a.and(edx, ecx);
        a.cmp(__dword_ptr[r8 + rdx * 8 + UsedOffset + 4], 0);     // id
        a.jne(badId);
        a.mov(eax, __dword_ptr[r8 + rdx * 8 + UsedOffset + 8]);    // len
        a.inc(ecx);
        a.movzx(ecx, cx);
        a.mov(__qword_ptr[rbx + UsedIndex], rcx);
        a.test(r11d, r11d);
        a.jnz(countPolled);
        a.inc(__qword_ptr[rbx + Interrupted]);
        a.ret();
        a.Label(ref countPolled);
        a.inc(__qword_ptr[rbx + Polled]);
        a.ret();

        a.Label(ref badId);
        DeviceFail(p, "the used ring returned a descriptor id that was never made available");
        a.Label(ref noInterrupt);
        DeviceFail(p, $"no MSI-X interrupt within {waitCycles} tsc cycles of the notification");
        a.Label(ref noUsed);
        DeviceFail(p, $"the used ring did not advance within {waitCycles} tsc cycles of the notification");
    }

    /// <summary>Writes descriptor <paramref name="index"/> of the queue whose ring starts at <paramref name="area"/>.</summary>
    private static void Descriptor(Assembler a, ulong area, int index, ulong address, uint length, ushort flags, ushort next)
    {
        a.mov(eax, (uint)address);
        a.mov(__qword_ptr[area + (ulong)(16 * index)], rax);
        a.mov(__dword_ptr[area + (ulong)(16 * index) + 8], (int)length);
        a.mov(__word_ptr[area + (ulong)(16 * index) + 12], (short)flags);
        a.mov(__word_ptr[area + (ulong)(16 * index) + 14], (short)next);
    }

    private static void ZeroQwords(Assembler a, ulong address, int count)
    {
        var loop = a.CreateLabel();
        a.mov(edi, (uint)address);
        a.mov(ecx, count);
        a.xor(eax, eax);
        a.Label(ref loop);
        a.mov(__qword_ptr[rdi], rax);
        a.add(rdi, 8);
        a.dec(ecx);
        a.jnz(loop);
    }

    private static void PrintDevice(GuestProgram p, ulong state)
    {
        var a = p.Asm;
        p.Print($"{Name}: ");
        a.mov(rdi, __qword_ptr[state + DeviceName]);
        a.call(p.PutString);
        p.Print(" in slot ");
        a.mov(edi, __dword_ptr[state + ConfigAddress]);
        a.shr(edi, 11);
        a.and(edi, 31);
        a.call(p.PutDecimal);
        p.Print(" device ");
        a.mov(rdi, __qword_ptr[state + DeviceId]);
        a.call(p.PutHex);
        p.Print(" features ");
        a.mov(rdi, __qword_ptr[state + Features]);
        a.call(p.PutHex);
        p.Print(" queue size ");
        a.mov(rdi, __qword_ptr[state + QueueSize]);
        a.call(p.PutDecimal);
        p.Print(" common cfg ");
        a.mov(rdi, __qword_ptr[state + Common]);
        a.call(p.PutHex);
        p.Print(" msix table ");
        a.mov(rdi, __qword_ptr[state + MsixTable]);
        a.call(p.PutHex);
        a.call(p.NewLine);
    }

    /// <summary>Two reads of 256 bytes, by interrupt then by polling: each must return at least 16 bytes, their first
    /// 16 bytes must not be zero, and must differ between the reads.</summary>
    private static void EmitEntropyRequests(GuestProgram p, Routines r, ulong rng, ulong lengthA, ulong lengthB)
    {
        var a = p.Asm;
        Label aOk = a.CreateLabel(), bOk = a.CreateLabel(), notZero = a.CreateLabel(), differ = a.CreateLabel();
        a.mov(ebx, (uint)rng);
        ZeroQwords(a, RngBufferA, 2 * RngBufferBytes / 8);

        Descriptor(a, RngArea, 0, RngBufferA, RngBufferBytes, DescriptorWrite, 0);
        a.xor(edi, edi);
        a.call(r.Submit);
        a.mov(__qword_ptr[lengthA], rax);
        a.lea(ecx, __[rax - 16]);
        a.cmp(ecx, RngBufferBytes - 16);
        a.jbe(aOk);
        DeviceFail(p, "the first read returned fewer than 16 or more than 256 bytes");
        a.Label(ref aOk);

        Descriptor(a, RngArea, 0, RngBufferB, RngBufferBytes, DescriptorWrite, 0);
        a.mov(edi, 1);
        a.call(r.Submit);
        a.mov(__qword_ptr[lengthB], rax);
        a.lea(ecx, __[rax - 16]);
        a.cmp(ecx, RngBufferBytes - 16);
        a.jbe(bOk);
        DeviceFail(p, "the second read returned fewer than 16 or more than 256 bytes");
        a.Label(ref bOk);

        a.mov(eax, (uint)RngBufferA);
        a.mov(rcx, __qword_ptr[rax]);
        a.or(rcx, __qword_ptr[rax + 8]);
        a.jnz(notZero);
        DeviceFail(p, "the first 16 bytes read are all zero");
        a.Label(ref notZero);
        a.mov(rcx, __qword_ptr[rax]);
        a.mov(rdx, __qword_ptr[rax + 8]);
        a.xor(rcx, __qword_ptr[rax + (int)(RngBufferB - RngBufferA)]);
        a.xor(rdx, __qword_ptr[rax + (int)(RngBufferB - RngBufferA) + 8]);
        a.or(rcx, rdx);
        a.jnz(differ);
        DeviceFail(p, "two reads returned the same 16 bytes");
        a.Label(ref differ);

        p.Print($"{Name}: virtio-rng read ");
        a.mov(rdi, __qword_ptr[lengthA]);
        a.call(p.PutDecimal);
        p.Print(" bytes (interrupt) and ");
        a.mov(rdi, __qword_ptr[lengthB]);
        a.call(p.PutDecimal);
        p.Print(" bytes (polled), first qwords ");
        a.mov(rdi, __qword_ptr[RngBufferA]);
        a.call(p.PutHex);
        p.Print(" and ");
        a.mov(rdi, __qword_ptr[RngBufferB]);
        a.call(p.PutHex);
        a.call(p.NewLine);
    }

    /// <summary>Capacity, then write sector 1 (interrupt), read it back (polling) and compare, then flush (interrupt).</summary>
    private static void EmitBlockRequests(GuestProgram p, Routines r, ulong block, ulong capacity)
    {
        var a = p.Asm;
        Label L() => a.CreateLabel();
        Label bigEnough = L(), hasFlush = L(), fill = L(), compare = L(), same = L(), mismatch = L();
        a.mov(ebx, (uint)block);

        // capacity: a 64-bit field, read as two 32-bit halves.
        a.mov(rax, __qword_ptr[rbx + DeviceConfig]);
        a.mov(ecx, __dword_ptr[rax]);
        a.mov(edx, __dword_ptr[rax + 4]);
        a.shl(rdx, 32);
        a.or(rcx, rdx);
        a.mov(__qword_ptr[capacity], rcx);
        a.cmp(rcx, (int)VirtioGuestDisk.PatternSector);
        a.ja(bigEnough);
        DeviceFail(p, $"the disk has no sector {VirtioGuestDisk.PatternSector}");
        a.Label(ref bigEnough);
        a.test(__byte_ptr[rbx + Features + 1], BlockFlushFeature >> 8);
        a.jnz(hasFlush);
        DeviceFail(p, "the device does not offer VIRTIO_BLK_F_FLUSH");
        a.Label(ref hasFlush);

        // The pattern.
        a.mov(edi, (uint)BlockData);
        a.mov(rax, VirtioGuestDisk.PatternSeed);
        a.mov(r8, VirtioGuestDisk.PatternStep);
        a.xor(ecx, ecx);
        a.Label(ref fill);
        a.mov(__qword_ptr[rdi + rcx * 8], rax);
        a.add(rax, r8);
        a.inc(ecx);
        a.cmp(ecx, VirtioGuestDisk.SectorSize / 8);
        a.jb(fill);

        // Write, by interrupt.
        Header(a, BlockOut, VirtioGuestDisk.PatternSector);
        Descriptor(a, BlockArea, 0, BlockHeader, 16, DescriptorNext, 1);
        Descriptor(a, BlockArea, 1, BlockData, VirtioGuestDisk.SectorSize, DescriptorNext, 2);
        Descriptor(a, BlockArea, 2, BlockStatus, 1, DescriptorWrite, 0);
        a.xor(edi, edi);
        a.call(r.Submit);
        CheckStatus(p, "write");

        // Read back, by polling.
        ZeroQwords(a, BlockReadBack, VirtioGuestDisk.SectorSize / 8);
        Header(a, BlockIn, VirtioGuestDisk.PatternSector);
        Descriptor(a, BlockArea, 1, BlockReadBack, VirtioGuestDisk.SectorSize, DescriptorNext | DescriptorWrite, 2);
        a.mov(edi, 1);
        a.call(r.Submit);
        CheckStatus(p, "read");
        a.xor(ecx, ecx);
        a.mov(esi, (uint)BlockData);
        a.mov(edi, (uint)BlockReadBack);
        a.Label(ref compare);
        a.mov(rax, __qword_ptr[rsi + rcx * 8]);
        a.cmp(rax, __qword_ptr[rdi + rcx * 8]);
        a.jne(mismatch);
        a.inc(ecx);
        a.cmp(ecx, VirtioGuestDisk.SectorSize / 8);
        a.jb(compare);
        a.jmp(same);
        a.Label(ref mismatch);
        a.mov(r12, rcx);
        a.mov(r13, __qword_ptr[rdi + rcx * 8]);
        a.mov(r14, rax);
        a.call(p.FailBegin);
        p.Print($"virtio-blk: sector {VirtioGuestDisk.PatternSector} read back differs at qword ");
        p.PrintDecimal(r12);
        p.Print(": ");
        p.PrintHex(r13);
        p.Print(" instead of ");
        p.PrintHex(r14);
        a.call(p.FailEnd);
        a.Label(ref same);

        // Flush, by interrupt.
        Header(a, BlockFlush, 0);
        Descriptor(a, BlockArea, 1, BlockStatus, 1, DescriptorWrite, 0);
        a.xor(edi, edi);
        a.call(r.Submit);
        CheckStatus(p, "flush");

        p.Print($"{Name}: virtio-blk capacity ");
        a.mov(rdi, __qword_ptr[capacity]);
        a.call(p.PutDecimal);
        p.Print($" sectors; sector {VirtioGuestDisk.PatternSector} written (interrupt), read back equal (polled), flushed (interrupt)\n");
    }

    private static void Header(Assembler a, uint type, ulong sector)
    {
        a.mov(eax, (uint)BlockHeader);
        a.mov(__dword_ptr[rax], (int)type);
        a.mov(__dword_ptr[rax + 4], 0);
        a.mov(__qword_ptr[rax + 8], (int)sector);
        a.mov(__byte_ptr[rax + (int)(BlockStatus - BlockHeader)], 0xFF);
    }

    private static void CheckStatus(GuestProgram p, string what)
    {
        var a = p.Asm;
        var ok = a.CreateLabel();
        a.movzx(r12d, __byte_ptr[BlockStatus]);
        a.test(r12d, r12d);
        a.jz(ok);
        a.call(p.FailBegin);
        p.Print($"virtio-blk: {what} request ended with status ");
        p.PrintDecimal(r12);
        a.call(p.FailEnd);
        a.Label(ref ok);
    }
}
