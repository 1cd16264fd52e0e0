using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.CpuCore;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// MOV to and from CR0, CR2, CR3, CR4, CR8 and DR0-DR7, CLTS, LMSW, SMSW, INVLPG, INVD, WBINVD, with the reserved-bit
/// checks of the SDM and the TLB flushes it requires: a CR3 write drops non-global translations (PCID is not
/// advertised), a change of CR0.PG/WP/PE or CR4.PGE/PAE/PSE/SMEP/PCIDE/LA57 or EFER.NXE drops all of them.
/// Setting CR0.PG with EFER.LME activates IA-32e mode (EFER.LMA). Debug registers are stored only: breakpoints do not
/// fire and DR7.GD does not raise #DB.
/// </summary>
public static class ControlRegisters
{
    public static unsafe void Register(InstructionTable table)
    {
        table.Set(Code.Mov_r64_cr, &MoveFromControl);
        table.Set(Code.Mov_r32_cr, &MoveFromControl);
        table.Set(Code.Mov_cr_r64, &MoveToControl);
        table.Set(Code.Mov_cr_r32, &MoveToControl);
        table.Set(Code.Mov_r64_dr, &MoveFromDebug);
        table.Set(Code.Mov_r32_dr, &MoveFromDebug);
        table.Set(Code.Mov_dr_r64, &MoveToDebug);
        table.Set(Code.Mov_dr_r32, &MoveToDebug);
        table.Set(Code.Clts, &Clts);
        table.Set(Code.Lmsw_rm16, &Lmsw);
        table.Set(Code.Lmsw_r32m16, &Lmsw);
        table.Set(Code.Lmsw_r64m16, &Lmsw);
        table.Set(Code.Smsw_rm16, &Smsw);
        table.Set(Code.Smsw_r32m16, &Smsw);
        table.Set(Code.Smsw_r64m16, &Smsw);
        table.Set(Code.Invlpg_m, &Invlpg);
        table.Set(Code.Invd, &InvalidateCaches);
        table.Set(Code.Wbinvd, &InvalidateCaches);
    }

    private const ulong Cr0Defined = Cr0ProtectionEnable | Cr0MonitorCoprocessor | Cr0Emulation | Cr0TaskSwitched | Cr0ExtensionType
        | Cr0NumericError | Cr0WriteProtect | Cr0AlignmentMask | Cr0NotWriteThrough | Cr0CacheDisable | Cr0Paging;

    private static void MoveFromControl(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireKernel(cpu);
        ulong value = i.Op1Register switch
        {
            Iced.Intel.Register.CR0 => cpu.Cr0,
            Iced.Intel.Register.CR2 => cpu.Cr2,
            Iced.Intel.Register.CR3 => cpu.Cr3,
            Iced.Intel.Register.CR4 => cpu.Cr4,
            Iced.Intel.Register.CR8 => ReadCr8(cpu),
            _ => throw new GuestFault(GuestFault.InvalidOpcode),
        };
        Operands.WriteRegister(cpu, i.Op0Register, value);
    }

    private static void MoveToControl(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireKernel(cpu);
        ulong value = Operands.ReadRegister(cpu, i.Op1Register);
        switch (i.Op0Register)
        {
            case Iced.Intel.Register.CR0: WriteCr0(cpu, value); break;
            case Iced.Intel.Register.CR2: cpu.Cr2 = value; break;
            case Iced.Intel.Register.CR3: WriteCr3(cpu, value); break;
            case Iced.Intel.Register.CR4: WriteCr4(cpu, value); break;
            case Iced.Intel.Register.CR8: WriteCr8(cpu, value); break;
            default: throw new GuestFault(GuestFault.InvalidOpcode);
        }
    }

    /// <summary>CR8 is the task priority's class: TPR[7:4].</summary>
    public static ulong ReadCr8(CpuCore cpu) => (ulong)((cpu.Interrupts?.TaskPriority ?? cpu.TaskPriorityWithoutApic) >> 4);

    public static void WriteCr8(CpuCore cpu, ulong value)
    {
        if (value > 0xF) throw new GuestFault(GuestFault.GeneralProtection, 0);
        byte priority = (byte)(value << 4);
        if (cpu.Interrupts is { } apic) apic.TaskPriority = priority;
        else cpu.TaskPriorityWithoutApic = priority;
        cpu.InterruptCheckRequested = true; // a lower priority may unmask a pending interrupt
    }

    /// <summary>MOV to CR0 with its checks; turns IA-32e mode on or off with paging when EFER.LME is set.</summary>
    public static void WriteCr0(CpuCore cpu, ulong value)
    {
        if ((value >> 32) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
        value = (value & Cr0Defined) | Cr0ExtensionType; // other low bits are ignored; ET is fixed at 1
        ulong old = cpu.Cr0;
        if ((value & Cr0Paging) != 0 && (value & Cr0ProtectionEnable) == 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
        if ((value & Cr0NotWriteThrough) != 0 && (value & Cr0CacheDisable) == 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
        bool enablingPaging = (value & Cr0Paging) != 0 && (old & Cr0Paging) == 0;
        bool disablingPaging = (value & Cr0Paging) == 0 && (old & Cr0Paging) != 0;
        if (enablingPaging && (cpu.Efer & EferLongModeEnable) != 0)
        {
            if ((cpu.Cr4 & Cr4Pae) == 0 || cpu.Segments[Cs].Long) throw new GuestFault(GuestFault.GeneralProtection, 0);
            cpu.Efer |= EferLongModeActive;
        }
        if (disablingPaging && cpu.LongModeActive)
        {
            if (cpu.SixtyFourBitMode) throw new GuestFault(GuestFault.GeneralProtection, 0);
            cpu.Efer &= ~EferLongModeActive; // leaving IA-32e mode from compatibility mode
        }
        cpu.Cr0 = value;
        if (((old ^ value) & (Cr0Paging | Cr0WriteProtect | Cr0ProtectionEnable)) != 0) cpu.Memory.Translator.Flush(includeGlobal: true);
        cpu.UpdateBitness();
        cpu.BlockExitRequested = true; // translation may differ for the next instruction's fetch
    }

    /// <summary>MOV to CR3: reserved bits above MAXPHYADDR raise #GP in IA-32e mode; non-global translations are dropped.</summary>
    public static void WriteCr3(CpuCore cpu, ulong value)
    {
        if (cpu.LongModeActive)
        {
            if ((cpu.Cr4 & Cr4Pcide) != 0) value &= ~(1UL << 63); // the no-flush hint is not stored
            if ((value & ~cpu.PhysicalAddressMask) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
        }
        else value = (uint)value;
        cpu.Cr3 = value;
        cpu.Memory.Translator.Flush(includeGlobal: false);
        cpu.BlockExitRequested = true;
    }

    /// <summary>MOV to CR4: bits of features CPUID does not advertise raise #GP, as do clearing PAE or changing LA57 in IA-32e mode.</summary>
    public static void WriteCr4(CpuCore cpu, ulong value)
    {
        if ((value & ~cpu.AllowedCr4Bits) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
        ulong old = cpu.Cr4;
        if (cpu.LongModeActive && ((value & Cr4Pae) == 0 || ((old ^ value) & Cr4La57) != 0)) throw new GuestFault(GuestFault.GeneralProtection, 0);
        if ((value & Cr4Pcide) != 0 && (old & Cr4Pcide) == 0 && (!cpu.LongModeActive || (cpu.Cr3 & 0xFFF) != 0))
            throw new GuestFault(GuestFault.GeneralProtection, 0);
        cpu.Cr4 = value;
        if (((old ^ value) & (Cr4Pge | Cr4Pae | Cr4Pse | Cr4Smep | Cr4Pcide | Cr4La57)) != 0) cpu.Memory.Translator.Flush(includeGlobal: true);
        cpu.BlockExitRequested = true;
    }

    private static int DebugRegisterNumber(CpuCore cpu, Iced.Intel.Register register)
    {
        int n = register - Iced.Intel.Register.DR0;
        if (n is 4 or 5)
        {
            if ((cpu.Cr4 & Cr4DebuggingExtensions) != 0) throw new GuestFault(GuestFault.InvalidOpcode);
            n += 2; // DR4/DR5 alias DR6/DR7 without CR4.DE
        }
        if (n > 7) throw new GuestFault(GuestFault.InvalidOpcode);
        return n;
    }

    private static void MoveFromDebug(CpuCore cpu, ref Instruction i)
    {
        int n = DebugRegisterNumber(cpu, i.Op1Register);
        Privilege.RequireKernel(cpu);
        ulong value = n switch { 0 => cpu.Dr0, 1 => cpu.Dr1, 2 => cpu.Dr2, 3 => cpu.Dr3, 6 => cpu.Dr6, _ => cpu.Dr7 };
        Operands.WriteRegister(cpu, i.Op0Register, value);
    }

    private static void MoveToDebug(CpuCore cpu, ref Instruction i)
    {
        int n = DebugRegisterNumber(cpu, i.Op0Register);
        Privilege.RequireKernel(cpu);
        ulong value = Operands.ReadRegister(cpu, i.Op1Register);
        switch (n)
        {
            case 0: cpu.Dr0 = value; break;
            case 1: cpu.Dr1 = value; break;
            case 2: cpu.Dr2 = value; break;
            case 3: cpu.Dr3 = value; break;
            case 6:
                if ((value >> 32) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
                cpu.Dr6 = (value & 0x1_E00F) | 0xFFFE_0FF0; // B0-B3, BD, BS, BT, RTM writable; the rest fixed
                break;
            default:
                if ((value >> 32) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
                cpu.Dr7 = (value & ~0xD000UL) | 0x400; // bits 12, 14, 15 read as 0, bit 10 as 1
                break;
        }
    }

    private static void Clts(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireKernel(cpu);
        cpu.Cr0 &= ~Cr0TaskSwitched;
    }

    /// <summary>LMSW loads CR0's PE, MP, EM and TS; it can set PE but never clear it.</summary>
    private static void Lmsw(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireKernel(cpu);
        ulong source = Operands.Read(cpu, i, 0, 2) & 0xF;
        ulong value = (cpu.Cr0 & ~0xEUL) | source | (cpu.Cr0 & Cr0ProtectionEnable);
        WriteCr0(cpu, value);
    }

    /// <summary>SMSW: CR0's low 16 bits to memory, or CR0 zero-extended to the register (UMIP is not advertised, so any CPL).</summary>
    private static void Smsw(CpuCore cpu, ref Instruction i)
    {
        if (i.Op0Kind == OpKind.Register) Operands.WriteRegister(cpu, i.Op0Register, cpu.Cr0 & Operands.Mask(Operands.RegisterWidth(i.Op0Register)));
        else cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 2, cpu.Cr0 & 0xFFFF);
    }

    private static void Invlpg(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireKernel(cpu);
        cpu.Memory.Translator.InvalidatePage(Operands.EffectiveAddress(cpu, i));
    }

    /// <summary>INVD and WBINVD: there are no caches to write back or drop.</summary>
    private static void InvalidateCaches(CpuCore cpu, ref Instruction i) => Privilege.RequireKernel(cpu);
}
