using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// LGDT, LIDT, SGDT, SIDT, LLDT, LTR, SLDT, STR, and the descriptor probes LAR, LSL, VERR, VERW (Linux's vDSO uses
/// LSL for getcpu, and VERW clears CPU buffers on the way back to user mode). UMIP is not advertised, so the store
/// instructions work at any CPL.
/// </summary>
public static class DescriptorTables
{
    public static unsafe void Register(InstructionTable table)
    {
        table.Set(Code.Lgdt_m1664, &Lgdt);
        table.Set(Code.Lgdt_m1632, &Lgdt);
        table.Set(Code.Lgdt_m1632_16, &Lgdt);
        table.Set(Code.Lidt_m1664, &Lidt);
        table.Set(Code.Lidt_m1632, &Lidt);
        table.Set(Code.Lidt_m1632_16, &Lidt);
        table.Set(Code.Sgdt_m1664, &Sgdt);
        table.Set(Code.Sgdt_m1632, &Sgdt);
        table.Set(Code.Sgdt_m1632_16, &Sgdt);
        table.Set(Code.Sidt_m1664, &Sidt);
        table.Set(Code.Sidt_m1632, &Sidt);
        table.Set(Code.Sidt_m1632_16, &Sidt);
        table.Set(Code.Lldt_rm16, &Lldt);
        table.Set(Code.Lldt_r32m16, &Lldt);
        table.Set(Code.Lldt_r64m16, &Lldt);
        table.Set(Code.Ltr_rm16, &Ltr);
        table.Set(Code.Ltr_r32m16, &Ltr);
        table.Set(Code.Ltr_r64m16, &Ltr);
        table.Set(Code.Sldt_rm16, &Sldt);
        table.Set(Code.Sldt_r32m16, &Sldt);
        table.Set(Code.Sldt_r64m16, &Sldt);
        table.Set(Code.Str_rm16, &Str);
        table.Set(Code.Str_r32m16, &Str);
        table.Set(Code.Str_r64m16, &Str);
        table.Set(Code.Lar_r16_rm16, &Lar);
        table.Set(Code.Lar_r32_r32m16, &Lar);
        table.Set(Code.Lar_r64_r64m16, &Lar);
        table.Set(Code.Lsl_r16_rm16, &Lsl);
        table.Set(Code.Lsl_r32_r32m16, &Lsl);
        table.Set(Code.Lsl_r64_r64m16, &Lsl);
        table.Set(Code.Verr_rm16, &Verr);
        table.Set(Code.Verr_r32m16, &Verr);
        table.Set(Code.Verr_r64m16, &Verr);
        table.Set(Code.Verw_rm16, &Verw);
        table.Set(Code.Verw_r32m16, &Verw);
        table.Set(Code.Verw_r64m16, &Verw);
    }

    /// <summary>The base width of a pseudo-descriptor: 8 bytes in 64-bit mode, 4 otherwise (24 bits used with a 16-bit operand).</summary>
    private static (ulong Base, ushort Limit) ReadPseudoDescriptor(CpuCore cpu, in Instruction i)
    {
        ulong address = Operands.EffectiveAddress(cpu, i);
        ushort limit = (ushort)cpu.Memory.Read(address, 2);
        ulong @base;
        if (cpu.SixtyFourBitMode)
        {
            @base = cpu.Memory.Read(address + 2, 8);
            if (!Segmentation.IsCanonical(@base)) throw new GuestFault(GuestFault.GeneralProtection, 0);
        }
        else
        {
            @base = cpu.Memory.Read(address + 2, 4);
            if (i.Code is Code.Lgdt_m1632_16 or Code.Lidt_m1632_16) @base &= 0xFF_FFFF;
        }
        return (@base, limit);
    }

    private static void WritePseudoDescriptor(CpuCore cpu, in Instruction i, ulong @base, ushort limit)
    {
        ulong address = Operands.EffectiveAddress(cpu, i);
        int width = cpu.SixtyFourBitMode ? 8 : 4;
        // Check both parts before storing either, as one access would.
        cpu.Memory.Write(address + 2, width, cpu.SixtyFourBitMode ? @base : (uint)@base);
        cpu.Memory.Write(address, 2, limit);
    }

    private static void Lgdt(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireKernel(cpu);
        (cpu.GdtBase, cpu.GdtLimit) = ReadPseudoDescriptor(cpu, i);
    }

    private static void Lidt(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireKernel(cpu);
        (cpu.IdtBase, cpu.IdtLimit) = ReadPseudoDescriptor(cpu, i);
    }

    private static void Sgdt(CpuCore cpu, ref Instruction i) => WritePseudoDescriptor(cpu, i, cpu.GdtBase, cpu.GdtLimit);

    private static void Sidt(CpuCore cpu, ref Instruction i) => WritePseudoDescriptor(cpu, i, cpu.IdtBase, cpu.IdtLimit);

    /// <summary>The 16-bit selector operand of LLDT/LTR/VERR/VERW/LAR/LSL: a register's low word or a word in memory.</summary>
    private static ushort SelectorOperand(CpuCore cpu, in Instruction i, int operand) => i.GetOpKind(operand) == OpKind.Register
        ? (ushort)Operands.ReadRegister(cpu, i.GetOpRegister(operand))
        : (ushort)cpu.Memory.Read(Operands.EffectiveAddress(cpu, i), 2);

    /// <summary>A system descriptor from the GDT: 16 bytes in IA-32e mode (base bits 63:32 in the second half).</summary>
    private static SegmentCache ReadSystemDescriptor(CpuCore cpu, ushort selector, int expectedType, out ulong address, out ulong low)
    {
        if ((selector & Segmentation.TableIndicator) != 0) throw new GuestFault(GuestFault.GeneralProtection, (uint)(selector & 0xFFFC));
        int size = cpu.LongModeActive ? 16 : 8;
        if (!Segmentation.TryLocate(cpu, selector, size, out address)) throw new GuestFault(GuestFault.GeneralProtection, (uint)(selector & 0xFFFC));
        low = Segmentation.ReadSystem(cpu, address, 8);
        ulong high = cpu.LongModeActive ? Segmentation.ReadSystem(cpu, address + 8, 8) : 0;
        int type = (int)((low >> 40) & 0x1F); // with S, which must be clear
        bool matches = type == expectedType || (expectedType == 9 && type == 1 && !cpu.LongModeActive); // 16-bit TSS outside IA-32e
        if (!matches) throw new GuestFault(GuestFault.GeneralProtection, (uint)(selector & 0xFFFC));
        if (cpu.LongModeActive && ((high >> 40) & 0x1F) != 0) throw new GuestFault(GuestFault.GeneralProtection, (uint)(selector & 0xFFFC));
        if ((low & (1UL << 47)) == 0) throw new GuestFault(GuestFault.SegmentNotPresent, (uint)(selector & 0xFFFC));
        var cache = Segmentation.FromDescriptor(selector, low);
        cache.Base |= (high & 0xFFFF_FFFF) << 32;
        if (cpu.LongModeActive && !Segmentation.IsCanonical(cache.Base)) throw new GuestFault(GuestFault.GeneralProtection, (uint)(selector & 0xFFFC));
        return cache;
    }

    private static void Lldt(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireProtectedMode(cpu);
        Privilege.RequireKernel(cpu);
        ushort selector = SelectorOperand(cpu, i, 0);
        if (Segmentation.IsNull(selector))
        {
            cpu.Ldtr = Segmentation.Null(selector);
            return;
        }
        cpu.Ldtr = ReadSystemDescriptor(cpu, selector, 0x2, out _, out _);
    }

    /// <summary>LTR: an available TSS, marked busy in the GDT as it loads.</summary>
    private static void Ltr(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireProtectedMode(cpu);
        Privilege.RequireKernel(cpu);
        ushort selector = SelectorOperand(cpu, i, 0);
        if (Segmentation.IsNull(selector)) throw new GuestFault(GuestFault.GeneralProtection, 0);
        var tss = ReadSystemDescriptor(cpu, selector, 0x9, out ulong address, out ulong low);
        Segmentation.WriteSystem(cpu, address + 5, 1, ((low >> 40) & 0xFF) | 0x2);
        tss.Attributes |= 0x2;
        cpu.Tr = tss;
    }

    private static void StoreSelector(CpuCore cpu, in Instruction i, ushort selector)
    {
        if (i.Op0Kind == OpKind.Register) Operands.WriteRegister(cpu, i.Op0Register, selector);
        else cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 2, selector);
    }

    private static void Sldt(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireProtectedMode(cpu);
        StoreSelector(cpu, i, cpu.Ldtr.Selector);
    }

    private static void Str(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireProtectedMode(cpu);
        StoreSelector(cpu, i, cpu.Tr.Selector);
    }

    /// <summary>
    /// The descriptor LAR/LSL/VERR/VERW look at, or false (ZF = 0) for a null selector, one beyond its table, or one
    /// the current privilege may not see (DPL below CPL or RPL, except conforming code).
    /// </summary>
    private static bool TryProbe(CpuCore cpu, ushort selector, out ulong descriptor)
    {
        descriptor = 0;
        if (Segmentation.IsNull(selector) || !Segmentation.TryLocate(cpu, selector, 8, out ulong address)) return false;
        descriptor = Segmentation.ReadSystem(cpu, address, 8);
        int type = (int)((descriptor >> 40) & 0xF), dpl = (int)((descriptor >> 45) & 3);
        bool codeOrData = (descriptor & (1UL << 44)) != 0;
        bool conformingCode = codeOrData && (type & 0xC) == 0xC;
        return conformingCode || (dpl >= cpu.Cpl && dpl >= (selector & 3));
    }

    private static void SetZero(CpuCore cpu, bool zero) =>
        cpu.Flags.Load((cpu.Flags.ToBits() & ~LazyFlags.ZeroBit) | (zero ? LazyFlags.ZeroBit : 0));

    private static bool SystemTypeAllowed(CpuCore cpu, int type, bool forLar) => cpu.LongModeActive
        ? type is 0x2 or 0x9 or 0xB || (forLar && type == 0xC)
        : type is 0x1 or 0x2 or 0x3 or 0x9 or 0xB || (forLar && type is 0x4 or 0x5 or 0xC);

    private static void Lar(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireProtectedMode(cpu);
        ushort selector = SelectorOperand(cpu, i, 1);
        bool ok = TryProbe(cpu, selector, out ulong d);
        if (ok && (d & (1UL << 44)) == 0) ok = SystemTypeAllowed(cpu, (int)((d >> 40) & 0xF), forLar: true);
        SetZero(cpu, ok);
        if (!ok) return;
        ulong rights = (d >> 32) & (Operands.RegisterWidth(i.Op0Register) == 2 ? 0xFF00UL : 0x00F0_FF00UL);
        Operands.WriteRegister(cpu, i.Op0Register, rights);
    }

    private static void Lsl(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireProtectedMode(cpu);
        ushort selector = SelectorOperand(cpu, i, 1);
        bool ok = TryProbe(cpu, selector, out ulong d);
        if (ok && (d & (1UL << 44)) == 0) ok = SystemTypeAllowed(cpu, (int)((d >> 40) & 0xF), forLar: false);
        SetZero(cpu, ok);
        if (!ok) return;
        Operands.WriteRegister(cpu, i.Op0Register, Segmentation.FromDescriptor(selector, d).Limit);
    }

    /// <summary>VERR: a readable code or data segment this privilege may use.</summary>
    private static void Verr(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireProtectedMode(cpu);
        bool ok = TryProbe(cpu, SelectorOperand(cpu, i, 0), out ulong d);
        int type = (int)((d >> 40) & 0xF);
        SetZero(cpu, ok && (d & (1UL << 44)) != 0 && ((type & 0x8) == 0 || (type & 0x2) != 0));
    }

    /// <summary>VERW: a writable data segment this privilege may use.</summary>
    private static void Verw(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireProtectedMode(cpu);
        bool ok = TryProbe(cpu, SelectorOperand(cpu, i, 0), out ulong d);
        int type = (int)((d >> 40) & 0xF);
        SetZero(cpu, ok && (d & (1UL << 44)) != 0 && (type & 0x8) == 0 && (type & 0x2) != 0);
    }
}
