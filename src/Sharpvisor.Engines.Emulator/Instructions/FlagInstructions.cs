using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// LAHF, SAHF, CLC, STC, CMC, CLD, STD: direct reads and writes of single flags; CLI and STI, which need CPL &lt;= IOPL
/// in protected mode (#GP(0) otherwise; the virtual-interrupt extensions are not advertised). STI that sets IF opens
/// a one-instruction interrupt shadow: the interrupt window opens after the next instruction (STI; HLT idles safely).
/// </summary>
public static class FlagInstructions
{
    /// <summary>The flags LAHF/SAHF move between AH and RFLAGS: SF ZF AF PF CF (bit 1 always reads as one).</summary>
    private const ulong AhFlags = LazyFlags.SignBit | LazyFlags.ZeroBit | LazyFlags.AdjustBit | LazyFlags.ParityBit | LazyFlags.CarryBit;

    public static unsafe void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Lahf, &Lahf);
        table.SetAllGeneralForms(Mnemonic.Sahf, &Sahf);
        table.SetAllGeneralForms(Mnemonic.Clc, &Clc);
        table.SetAllGeneralForms(Mnemonic.Stc, &Stc);
        table.SetAllGeneralForms(Mnemonic.Cmc, &Cmc);
        table.SetAllGeneralForms(Mnemonic.Cld, &Cld);
        table.SetAllGeneralForms(Mnemonic.Std, &Std);
        table.Set(Code.Cli, &Cli);
        table.Set(Code.Sti, &Sti);
    }

    private static void Cli(CpuCore cpu, ref Instruction i)
    {
        if (!SystemMode.Privilege.IoPrivileged(cpu)) throw new GuestFault(GuestFault.GeneralProtection, 0);
        cpu.ControlFlags &= ~CpuCore.InterruptFlag;
    }

    private static void Sti(CpuCore cpu, ref Instruction i)
    {
        if (!SystemMode.Privilege.IoPrivileged(cpu)) throw new GuestFault(GuestFault.GeneralProtection, 0);
        if ((cpu.ControlFlags & CpuCore.InterruptFlag) != 0) return;
        cpu.ControlFlags |= CpuCore.InterruptFlag;
        cpu.InterruptShadow = true;
        cpu.InterruptCheckRequested = true;
        cpu.BlockExitRequested = true;
    }

    private static void Lahf(CpuCore cpu, ref Instruction i)
    {
        ulong ah = (cpu.Flags.ToBits() & AhFlags) | 0x2;
        cpu.Gpr[CpuCore.Rax] = (cpu.Gpr[CpuCore.Rax] & ~0xFF00UL) | (ah << 8);
    }

    // OF is kept.
    private static void Sahf(CpuCore cpu, ref Instruction i)
    {
        ulong ah = (cpu.Gpr[CpuCore.Rax] >> 8) & AhFlags;
        cpu.Flags.Load((cpu.Flags.ToBits() & LazyFlags.OverflowBit) | ah);
    }

    private static void Clc(CpuCore cpu, ref Instruction i) => cpu.Flags.Load(cpu.Flags.ToBits() & ~LazyFlags.CarryBit);

    private static void Stc(CpuCore cpu, ref Instruction i) => cpu.Flags.Load(cpu.Flags.ToBits() | LazyFlags.CarryBit);

    private static void Cmc(CpuCore cpu, ref Instruction i) => cpu.Flags.Load(cpu.Flags.ToBits() ^ LazyFlags.CarryBit);

    private static void Cld(CpuCore cpu, ref Instruction i) => cpu.ControlFlags &= ~CpuCore.DirectionFlag;

    private static void Std(CpuCore cpu, ref Instruction i) => cpu.ControlFlags |= CpuCore.DirectionFlag;
}
