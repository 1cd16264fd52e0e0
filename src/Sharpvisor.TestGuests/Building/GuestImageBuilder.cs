using System.Buffers.Binary;
using Iced.Intel;
using Sharpvisor.TestGuests.Elf;
using static Iced.Intel.AssemblerRegisters;
using L = Sharpvisor.TestGuests.Building.GuestImageLayout;

namespace Sharpvisor.TestGuests.Building;

/// <summary>
/// Turns a guest's main code into a bootable PVH ELF: a 32-bit entry stub that switches to long mode, prebuilt
/// GDT/TSS/IDT/page tables, the 64-bit entry, the shared runtime and a handler for every vector that reports an
/// unexpected exception or interrupt as a FAIL line.
/// <para>Ring-0 cost of reaching main, which matters on PVM where ring 0 is emulated: 18 instructions of 32-bit stub,
/// about 25 in the 64-bit entry (a line feed included), and 9 more to drop to ring 3.</para>
/// <para>Ring-3 guests run with IOPL 3 so their port accesses go straight to the VMM. Some engines do not honour
/// IOPL for ring 3 (KVM on PVM raises #GP for every in/out there), so the #GP handler recognises a faulting
/// in/out (EC-EF, E4-E7, with or without a 66 prefix), performs it in ring 0, steps over it and returns. Each such
/// access costs about 25 ring-0 instructions and is counted in <see cref="GuestProgram.EmulatedPortAccessesSlot"/>.
/// Any other #GP is reported like every unexpected exception.</para>
/// </summary>
public static class GuestImageBuilder
{
    private const ulong Cr0ProtectionEnable = 1UL << 0;
    private const ulong Cr0NotWriteThrough = 1UL << 29;
    private const ulong Cr0CacheDisable = 1UL << 30;
    private const ulong Cr0Paging = 1UL << 31;
    private const uint Cr4PhysicalAddressExtension = 1U << 5;
    private const uint EferMsr = 0xC000_0080;
    private const uint EferLongModeEnable = 1U << 8;
    private const ulong RflagsReserved = 1UL << 1;
    private const int RflagsIoplShift = 12;

    // Page-table entry bits.
    private const ulong Present = 1, Writable = 2, User = 4, WriteThrough = 8, CacheDisable = 0x10, LargePage = 0x80;

    private const int GeneralProtection = 13;

    /// <summary>Vectors for which the CPU pushes an error code.</summary>
    private static readonly HashSet<int> ExceptionsWithErrorCode = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];

    /// <summary>Builds the guest and returns its ELF file.</summary>
    /// <param name="userIopl">The IOPL ring-3 code runs with: 3 lets it reach ports directly; below 3 every port
    /// access of ring 3 goes through the #GP emulation, as it does on engines that ignore IOPL.</param>
    public static byte[] BuildElf(string name, GuestPrivilege privilege, Action<GuestProgram> emitMain, int userIopl = 3)
    {
        byte[] image = BuildImage(name, privilege, emitMain, userIopl);
        return PvhElfWriter.Write(L.LoadAddress, image, L.ImageEnd - L.LoadAddress, (uint)L.Entry32Address);
    }

    /// <summary>The bytes of the PT_LOAD segment, starting at <see cref="GuestImageLayout.LoadAddress"/>.</summary>
    public static byte[] BuildImage(string name, GuestPrivilege privilege, Action<GuestProgram> emitMain, int userIopl = 3)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfNegative(userIopl);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(userIopl, 3);
        var program = new GuestProgram(name);
        var a = program.Asm;

        EmitEntry64(program, privilege, userIopl);
        a.Label(ref program.MainLabel);
        emitMain(program);
        GuestRuntime.Emit(program);
        var vectorStubs = EmitVectorStubs(program);
        foreach (var (text, label) in program.Texts)
        {
            var l = label;
            a.Label(ref l);
            a.db(System.Text.Encoding.ASCII.GetBytes(text + "\0"));
        }

        var codeStream = new MemoryStream();
        var result = a.Assemble(new StreamCodeWriter(codeStream), L.CodeAddress, BlockEncoderOptions.ReturnNewInstructionOffsets);
        byte[] code = codeStream.ToArray();
        if (L.CodeAddress + (ulong)code.Length > L.CodeLimit)
            throw new InvalidOperationException($"guest {name}: {code.Length} bytes of code do not fit below 0x{L.CodeLimit:x}");

        var image = new byte[L.CodeAddress - L.LoadAddress + (ulong)code.Length];
        WriteEntry32(image);
        WriteGdt(image);
        WriteTss(image);
        WriteIdt(image, result, program, vectorStubs);
        WritePageTables(image);
        code.CopyTo(image, (int)(L.CodeAddress - L.LoadAddress));
        return image;
    }

    private static Span<byte> At(byte[] image, ulong address, int length) =>
        image.AsSpan((int)(address - L.LoadAddress), length);

    /// <summary>
    /// PVH entry: 32-bit protected mode, paging off, EBX = hvm_start_info (kept in EBX throughout).
    /// Points CR3 at the prebuilt tables, enables PAE, EFER.LME and paging, loads the GDT and jumps to 64-bit code.
    /// </summary>
    private static void WriteEntry32(byte[] image)
    {
        var a = new Assembler(32);
        a.rdtsc();
        a.mov(__dword_ptr[(uint)L.EntryTimeStampAddress], eax);
        a.mov(__dword_ptr[(uint)L.EntryTimeStampAddress + 4], edx);
        a.mov(eax, (uint)L.Pml4Address);
        a.mov(cr3, eax);
        a.mov(eax, cr4);
        a.or(eax, Cr4PhysicalAddressExtension);
        a.mov(cr4, eax);
        a.mov(ecx, EferMsr);
        a.rdmsr();
        a.or(eax, EferLongModeEnable);
        a.wrmsr();
        a.mov(eax, cr0);
        a.and(eax, unchecked((int)~(uint)(Cr0CacheDisable | Cr0NotWriteThrough)));
        a.or(eax, unchecked((int)(uint)(Cr0Paging | Cr0ProtectionEnable)));
        a.mov(cr0, eax);
        a.lgdt(__[(uint)L.GdtPointerAddress]);
        a.jmp(L.KernelCodeSelector, (uint)L.CodeAddress);
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), L.Entry32Address);
        byte[] stub = stream.ToArray();
        if (stub.Length > L.Entry32MaxSize) throw new InvalidOperationException("the 32-bit entry stub outgrew its slot");
        stub.CopyTo(At(image, L.Entry32Address, stub.Length));
    }

    /// <summary>Selectors and segments in 64-bit mode, the stack, hvm_start_info saved, IDT and TSS loaded, then
    /// main in the requested ring. main must not return; if it does, the guest reports a failure.</summary>
    private static void EmitEntry64(GuestProgram p, GuestPrivilege privilege, int userIopl)
    {
        var a = p.Asm;
        var mainReturned = a.CreateLabel("main_returned");
        a.mov(eax, L.KernelDataSelector);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(ss, ax);
        a.mov(fs, ax);
        a.mov(gs, ax);
        a.mov(esp, (uint)L.KernelStackTop);
        a.mov(ebx, ebx);                                     // upper halves are undefined after the mode switch
        a.mov(__qword_ptr[p.StartInfoSlot], rbx);
        a.lidt(__[L.IdtPointerAddress]);
        a.mov(eax, L.TssSelector);
        a.ltr(ax);
        a.call(p.NewLineLabel);                              // firmware may have left the cursor mid-line
        if (privilege == GuestPrivilege.Kernel)
        {
            a.call(p.MainLabel);
            a.jmp(mainReturned);
        }
        else
        {
            // iretq to ring 3 with IOPL 3; a return address on the user stack catches a main that returns.
            a.lea(rax, __[mainReturned]);
            a.mov(__qword_ptr[L.UserStackTop - 8], rax);
            a.push(L.UserDataSelector | 3);
            a.push((int)(L.UserStackTop - 8));
            a.push((int)(RflagsReserved | (ulong)userIopl << RflagsIoplShift));
            a.push(L.UserCodeSelector | 3);
            a.lea(rax, __[p.MainLabel]);
            a.push(rax);
            a.iretq();
        }
        a.Label(ref mainReturned);
        p.FailWith("main returned");
    }

    /// <summary>
    /// A stub for every vector without a handler of the guest's: it pushes a zero error code where the CPU pushes
    /// none, then the vector, and jumps to a reporter that prints a FAIL line with vector, error code, RIP and CR2.
    /// The halt vector gets a gate callable from ring 3 that stops the CPU for good.
    /// </summary>
    private static Dictionary<int, Label> EmitVectorStubs(GuestProgram p)
    {
        var a = p.Asm;
        var stubs = new Dictionary<int, Label>();
        var halt = a.CreateLabel("halt");
        var haltLoop = a.CreateLabel();
        var claimed = p.Gates.Select(g => g.Vector).ToHashSet();

        a.Label(ref halt);
        a.cli();
        a.Label(ref haltLoop);
        a.hlt();
        a.jmp(haltLoop);
        stubs[L.HaltVector] = halt;

        var report = a.CreateLabel("unexpected_vector");
        stubs[GeneralProtection] = EmitPortAccessEmulation(p, report);

        for (int vector = 0; vector < L.IdtEntries; vector++)
        {
            if (claimed.Contains(vector) || stubs.ContainsKey(vector)) continue;
            var stub = a.CreateLabel();
            a.Label(ref stub);
            if (!ExceptionsWithErrorCode.Contains(vector)) a.push(0);
            a.push(vector);
            a.jmp(report);
            stubs[vector] = stub;
        }

        // Stack: vector, error code, then the CPU's frame (RIP, CS, RFLAGS, RSP, SS).
        var notException = a.CreateLabel();
        var end = a.CreateLabel();
        a.Label(ref report);
        a.call(p.FailBeginLabel);
        a.cmp(__qword_ptr[rsp], 32);
        a.jae(notException);
        p.Print("CPU exception ");
        a.mov(rdi, __qword_ptr[rsp]);
        a.call(p.PutDecimalLabel);
        p.Print(" error ");
        a.mov(rdi, __qword_ptr[rsp + 8]);
        a.call(p.PutHexLabel);
        p.Print(" rip ");
        a.mov(rdi, __qword_ptr[rsp + 16]);
        a.call(p.PutHexLabel);
        p.Print(" cr2 ");
        a.mov(rdi, cr2);
        a.call(p.PutHexLabel);
        a.jmp(end);
        a.Label(ref notException);
        p.Print("unexpected interrupt vector ");
        a.mov(rdi, __qword_ptr[rsp]);
        a.call(p.PutDecimalLabel);
        a.Label(ref end);
        a.call(p.FailEndLabel);
        return stubs;
    }

    /// <summary>
    /// #GP handler: carries out an in/out that ring 3 was refused despite IOPL 3, else reports the #GP.
    /// Stack on entry: error code, RIP, CS, RFLAGS, RSP, SS. The port access itself is executed as the same
    /// instruction on the interrupted code's RAX/RDX, so its effect on RAX is exactly the architectural one.
    /// </summary>
    private static Label EmitPortAccessEmulation(GuestProgram p, Label report)
    {
        var a = p.Asm;
        var handler = a.CreateLabel("general_protection");
        Label L() => a.CreateLabel();
        Label notUser = L(), notPortAccess = L(), noPrefix = L(), done = L(), immediateDone = L();
        Label inByte = L(), inWide = L(), in16 = L(), outByte = L(), outWide = L(), out16 = L();
        Label inByteImm = L(), inWideImm = L(), in16Imm = L(), outByteImm = L(), out16Imm = L();

        a.Label(ref handler);
        a.test(__byte_ptr[rsp + 16], 3);                      // CS.RPL: only ring-3 accesses are emulated
        a.jz(notUser);
        a.push(rsi);
        a.push(rcx);                                          // now: rcx, rsi, error code, RIP at +24
        a.mov(rsi, __qword_ptr[rsp + 24]);
        a.xor(ecx, ecx);                                      // ecx = 1: operand-size prefix, 16-bit access
        a.cmp(__byte_ptr[rsi], 0x66);
        a.jne(noPrefix);
        a.inc(rsi);
        a.inc(ecx);
        a.Label(ref noPrefix);
        // Opcodes are compared in memory: RAX and RDX still hold the interrupted code's values.
        a.cmp(__byte_ptr[rsi], 0xEC);
        a.je(inByte);
        a.cmp(__byte_ptr[rsi], 0xED);
        a.je(inWide);
        a.cmp(__byte_ptr[rsi], 0xEE);
        a.je(outByte);
        a.cmp(__byte_ptr[rsi], 0xEF);
        a.je(outWide);
        a.cmp(__byte_ptr[rsi], 0xE4);
        a.jb(notPortAccess);
        a.cmp(__byte_ptr[rsi], 0xE7);
        a.ja(notPortAccess);

        // E4-E7: the port is the byte after the opcode.
        a.push(rdx);
        a.movzx(edx, __byte_ptr[rsi + 1]);
        a.cmp(__byte_ptr[rsi], 0xE4);
        a.je(inByteImm);
        a.cmp(__byte_ptr[rsi], 0xE5);
        a.je(inWideImm);
        a.cmp(__byte_ptr[rsi], 0xE6);
        a.je(outByteImm);
        a.test(ecx, ecx);
        a.jnz(out16Imm);
        a.@out(dx, eax);
        a.jmp(immediateDone);
        a.Label(ref out16Imm);
        a.@out(dx, ax);
        a.jmp(immediateDone);
        a.Label(ref inByteImm);
        a.@in(al, dx);
        a.jmp(immediateDone);
        a.Label(ref inWideImm);
        a.test(ecx, ecx);
        a.jnz(in16Imm);
        a.@in(eax, dx);
        a.jmp(immediateDone);
        a.Label(ref in16Imm);
        a.@in(ax, dx);
        a.jmp(immediateDone);
        a.Label(ref outByteImm);
        a.@out(dx, al);
        a.Label(ref immediateDone);
        a.pop(rdx);
        a.inc(rsi);
        a.jmp(done);

        // EC-EF: the port is in DX.
        a.Label(ref inByte);
        a.@in(al, dx);
        a.jmp(done);
        a.Label(ref inWide);
        a.test(ecx, ecx);
        a.jnz(in16);
        a.@in(eax, dx);
        a.jmp(done);
        a.Label(ref in16);
        a.@in(ax, dx);
        a.jmp(done);
        a.Label(ref outByte);
        a.@out(dx, al);
        a.jmp(done);
        a.Label(ref outWide);
        a.test(ecx, ecx);
        a.jnz(out16);
        a.@out(dx, eax);
        a.jmp(done);
        a.Label(ref out16);
        a.@out(dx, ax);

        a.Label(ref done);
        a.inc(rsi);                                           // past the opcode
        a.mov(__qword_ptr[rsp + 24], rsi);
        a.inc(__qword_ptr[p.EmulatedPortAccessesSlot]);
        a.pop(rcx);
        a.pop(rsi);
        a.add(rsp, 8);                                        // the error code
        a.iretq();

        a.Label(ref notPortAccess);
        a.pop(rcx);
        a.pop(rsi);
        a.Label(ref notUser);
        a.push(GeneralProtection);
        a.jmp(report);
        return handler;
    }

    private static void WriteIdt(byte[] image, AssemblerResult result, GuestProgram p, Dictionary<int, Label> stubs)
    {
        var idt = At(image, L.IdtAddress, L.IdtEntries * 16);
        foreach (var (vector, stub) in stubs)
            WriteGate(idt, vector, result.GetLabelRIP(stub), userCallable: vector == L.HaltVector);
        foreach (var (vector, handler, userCallable) in p.Gates)
            WriteGate(idt, vector, result.GetLabelRIP(handler), userCallable);

        var pointer = At(image, L.IdtPointerAddress, 10);
        BinaryPrimitives.WriteUInt16LittleEndian(pointer, L.IdtEntries * 16 - 1);
        BinaryPrimitives.WriteUInt64LittleEndian(pointer[2..], L.IdtAddress);
    }

    /// <summary>A 64-bit interrupt gate (interrupts stay off in the handler).</summary>
    private static void WriteGate(Span<byte> idt, int vector, ulong handler, bool userCallable)
    {
        var gate = idt.Slice(vector * 16, 16);
        BinaryPrimitives.WriteUInt16LittleEndian(gate, (ushort)handler);
        BinaryPrimitives.WriteUInt16LittleEndian(gate[2..], L.KernelCodeSelector);
        gate[4] = 0;                                              // IST
        gate[5] = (byte)(0x8E | (userCallable ? 0x60 : 0));      // present, DPL, type 0xE
        BinaryPrimitives.WriteUInt16LittleEndian(gate[6..], (ushort)(handler >> 16));
        BinaryPrimitives.WriteUInt32LittleEndian(gate[8..], (uint)(handler >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(gate[12..], 0);
    }

    private static void WriteGdt(byte[] image)
    {
        var gdt = At(image, L.GdtAddress, L.GdtEntries * 8);
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[0x00..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[0x08..], 0x00AF_9B00_0000_FFFF);   // ring-0 code, L=1
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[0x10..], 0x00CF_9300_0000_FFFF);   // ring-0 data
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[0x18..], 0x00CF_F300_0000_FFFF);   // ring-3 data
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[0x20..], 0x00AF_FB00_0000_FFFF);   // ring-3 code, L=1

        // 64-bit available TSS, 16 bytes.
        ulong tss = L.TssAddress;
        ulong low = (ulong)(L.TssSize - 1)
                    | (tss & 0xFFFFFF) << 16
                    | 0x89UL << 40
                    | (tss >> 24 & 0xFF) << 56;
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[0x28..], low);
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[0x30..], tss >> 32);

        var pointer = At(image, L.GdtPointerAddress, 10);
        BinaryPrimitives.WriteUInt16LittleEndian(pointer, L.GdtEntries * 8 - 1);
        BinaryPrimitives.WriteUInt64LittleEndian(pointer[2..], L.GdtAddress);
    }

    private static void WriteTss(byte[] image)
    {
        var tss = At(image, L.TssAddress, L.TssSize);
        BinaryPrimitives.WriteUInt64LittleEndian(tss[4..], L.KernelStackTop);           // RSP0
        BinaryPrimitives.WriteUInt16LittleEndian(tss[0x66..], (ushort)L.TssSize);       // no I/O bitmap: IOPL rules
    }

    private static void WritePageTables(byte[] image)
    {
        const ulong flags = Present | Writable | User;
        var pml4 = At(image, L.Pml4Address, 4096);
        BinaryPrimitives.WriteUInt64LittleEndian(pml4, L.PdptAddress | flags);
        var pdpt = At(image, L.PdptAddress, 4096);
        for (int gib = 0; gib < L.MappedGiB; gib++)
        {
            ulong pd = L.PageDirectoriesAddress + (ulong)gib * 4096;
            BinaryPrimitives.WriteUInt64LittleEndian(pdpt[(gib * 8)..], pd | flags);
            var directory = At(image, pd, 4096);
            // The top GiB holds the MMIO hole (echo memory, IOAPIC, LAPIC): map it uncached.
            ulong cache = gib == L.MappedGiB - 1 ? WriteThrough | CacheDisable : 0;
            for (int i = 0; i < 512; i++)
            {
                ulong address = ((ulong)gib << 30) + ((ulong)i << 21);
                BinaryPrimitives.WriteUInt64LittleEndian(directory[(i * 8)..], address | flags | LargePage | cache);
            }
        }
    }
}
