namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// RDMSR and WRMSR on the MSRs the core owns; any other index goes to <see cref="CpuCore.MsrHandlers"/> (local APIC,
/// TSC deadline, paravirtual clock), and if none claims it the access raises #GP(0) and is reported once through
/// <see cref="CpuCore.UnknownMsrAccessed"/>.
/// Choices, from what Linux 6.1 does with the answer:
/// - MTRRs are not advertised (CPUID.1:EDX.MTRR clear), so IA32_MTRRCAP and the MTRR range raise #GP like any unknown
///   MSR; Linux then runs with MTRRs disabled and takes memory types from PAT alone.
/// - SPEC_CTRL and PRED_CMD exist only when CPUID advertises IBRS/STIBP/SSBD (leaf 7 EDX or AMD 8000_0008h EBX);
///   otherwise they raise #GP, and Linux, which checks CPUID first, never touches them.
/// - Platform MSRs Linux probes (IA32_FEATURE_CONTROL, ARCH_CAPABILITIES, TSC_ADJUST, the AMD64 configuration MSRs):
///   Linux reads them with rdmsr_safe or only behind a CPUID bit, and treats #GP as "absent"; even a plain RDMSR is
///   caught by the kernel's exception table (one warning, value 0). They raise #GP here.
/// - IA32_PLATFORM_ID reads 0 and IA32_BIOS_SIGN_ID (microcode revision) reads revision 1 in EDX: the microcode loader
///   reads them with plain RDMSR on Intel parts; writes to BIOS_SIGN_ID (Linux writes 0 before CPUID) are ignored.
/// </summary>
public static class ModelSpecificRegisters
{
    public const uint Tsc = 0x10, PlatformId = 0x17, SpecCtrl = 0x48, PredCmd = 0x49, BiosSignId = 0x8B,
        SysenterCs = 0x174, SysenterEsp = 0x175, SysenterEip = 0x176, MiscEnable = 0x1A0, Pat = 0x277,
        Efer = 0xC000_0080, Star = 0xC000_0081, Lstar = 0xC000_0082, Cstar = 0xC000_0083, SyscallFlagMask = 0xC000_0084,
        FsBase = 0xC000_0100, GsBase = 0xC000_0101, KernelGsBase = 0xC000_0102, TscAux = 0xC000_0103;

    /// <summary>The MSRs the core keeps (saved and restored by <see cref="CpuStateMapper"/>; EFER has its own field there).</summary>
    public static readonly uint[] CoreOwned =
    [
        Tsc, SysenterCs, SysenterEsp, SysenterEip, MiscEnable, Pat, Star, Lstar, Cstar, SyscallFlagMask,
        FsBase, GsBase, KernelGsBase, TscAux,
    ];

    /// <summary>RDMSR: the value of MSR <paramref name="index"/>, or #GP(0).</summary>
    public static ulong Read(CpuCore cpu, uint index)
    {
        switch (index)
        {
            case Tsc: return cpu.ReadTimeStampCounter();
            case PlatformId: return 0;
            case BiosSignId: return 1UL << 32;
            case SysenterCs: return cpu.SysenterCs;
            case SysenterEsp: return cpu.SysenterEsp;
            case SysenterEip: return cpu.SysenterEip;
            case MiscEnable: return cpu.MiscEnable;
            case Pat: return cpu.Pat;
            case SpecCtrl when HasSpeculationControl(cpu): return cpu.SpeculationControl;
            case Efer: return cpu.Efer;
            case Star: return cpu.Star;
            case Lstar: return cpu.Lstar;
            case Cstar: return cpu.Cstar;
            case SyscallFlagMask: return cpu.SyscallFlagMask;
            case FsBase: return cpu.FsBase;
            case GsBase: return cpu.GsBase;
            case KernelGsBase: return cpu.KernelGsBase;
            case TscAux: return cpu.TscAux;
        }
        foreach (var handler in cpu.MsrHandlers)
            if (handler.TryRead(index, out ulong value)) return value;
        cpu.NoteUnknownMsr(index, write: false);
        throw new GuestFault(GuestFault.GeneralProtection, 0);
    }

    /// <summary>WRMSR: stores <paramref name="value"/> with the MSR's checks, or raises #GP(0).</summary>
    public static void Write(CpuCore cpu, uint index, ulong value)
    {
        switch (index)
        {
            case Tsc: cpu.TscOffset = (long)(value - cpu.TimeStampCounter()); return;
            case BiosSignId: return;
            case SysenterCs: cpu.SysenterCs = value & 0xFFFF_FFFF; return;
            case SysenterEsp: cpu.SysenterEsp = Canonical(value); return;
            case SysenterEip: cpu.SysenterEip = Canonical(value); return;
            case MiscEnable: cpu.MiscEnable = value; return;
            case Pat: cpu.Pat = ValidPat(value); return;
            case SpecCtrl when HasSpeculationControl(cpu):
                if ((value & ~0x7UL) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
                cpu.SpeculationControl = value;
                return;
            case PredCmd when HasSpeculationControl(cpu):
                if ((value & ~0x1UL) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
                return; // IBPB: nothing is predicted across this boundary in an interpreter
            case Efer: WriteEfer(cpu, value); return;
            case Star: cpu.Star = value; return;
            case Lstar: cpu.Lstar = Canonical(value); return;
            case Cstar: cpu.Cstar = Canonical(value); return;
            case SyscallFlagMask:
                if ((value >> 32) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
                cpu.SyscallFlagMask = value;
                return;
            case FsBase: cpu.FsBase = Canonical(value); return;
            case GsBase: cpu.GsBase = Canonical(value); return;
            case KernelGsBase: cpu.KernelGsBase = Canonical(value); return;
            case TscAux:
                if ((value >> 32) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
                cpu.TscAux = (uint)value;
                return;
        }
        foreach (var handler in cpu.MsrHandlers)
            if (handler.TryWrite(index, value)) return;
        cpu.NoteUnknownMsr(index, write: true);
        throw new GuestFault(GuestFault.GeneralProtection, 0);
    }

    /// <summary>
    /// EFER: SCE, LME and NXE as far as CPUID advertises them (other bits #GP); LMA is read-only (the written bit is
    /// ignored) and LME cannot change while paging is on. A change of NXE flushes the TLB (the meaning of bit 63 of
    /// every cached entry changes).
    /// </summary>
    public static void WriteEfer(CpuCore cpu, ulong value)
    {
        ulong writable = cpu.AllowedEferBits;
        if ((value & ~(writable | CpuCore.EferLongModeActive)) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
        ulong old = cpu.Efer;
        if ((cpu.Cr0 & CpuCore.Cr0Paging) != 0 && ((old ^ value) & CpuCore.EferLongModeEnable) != 0)
            throw new GuestFault(GuestFault.GeneralProtection, 0);
        cpu.Efer = (value & writable) | (old & CpuCore.EferLongModeActive);
        if (((old ^ cpu.Efer) & CpuCore.EferNoExecuteEnable) != 0) cpu.Memory.Translator.Flush(includeGlobal: true);
    }

    private static ulong Canonical(ulong value) =>
        Segmentation.IsCanonical(value) ? value : throw new GuestFault(GuestFault.GeneralProtection, 0);

    /// <summary>Each of the eight PAT entries must be a defined memory type: UC 0, WC 1, WT 4, WP 5, WB 6, UC- 7.</summary>
    private static ulong ValidPat(ulong value)
    {
        for (int entry = 0; entry < 8; entry++)
        {
            ulong type = (value >> (entry * 8)) & 0xFF;
            if (type is 2 or 3 or > 7) throw new GuestFault(GuestFault.GeneralProtection, 0);
        }
        return value;
    }

    /// <summary>IBRS/IBPB, STIBP or SSBD in CPUID leaf 7 EDX (bits 26, 27, 31) or AMD's 8000_0008h EBX (bits 12, 14, 15, 24).</summary>
    private static bool HasSpeculationControl(CpuCore cpu)
    {
        uint edx7 = 0, ebx88 = 0;
        foreach (var e in cpu.Cpuid)
        {
            if (e.Function == 7 && (!e.IndexSignificant || e.Index == 0)) edx7 = e.Edx;
            else if (e.Function == 0x8000_0008) ebx88 = e.Ebx;
        }
        return (edx7 & ((1u << 26) | (1u << 27) | (1u << 31))) != 0 || (ebx88 & ((1u << 12) | (1u << 14) | (1u << 15) | (1u << 24))) != 0;
    }
}
