using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.CpuCore;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// RDMSR and WRMSR (see <see cref="ModelSpecificRegisters"/>), RDPMC (no performance counters are advertised: #GP),
/// XGETBV/XSETBV (XSAVE is not advertised: #UD), and RDTSC/RDTSCP with system semantics: CR4.TSD makes them
/// privileged, and they read the guest TSC (the clock plus the offset a TSC write set). The RDTSC handlers here
/// replace ProcessorInformation's, which predate the offset and CR4.TSD.
/// </summary>
public static class MsrInstructions
{
    public static unsafe void Register(InstructionTable table)
    {
        table.Set(Code.Rdmsr, &Rdmsr);
        table.Set(Code.Wrmsr, &Wrmsr);
        table.Set(Code.Rdpmc, &Rdpmc);
        table.Set(Code.Xgetbv, &InvalidOpcode);
        table.Set(Code.Xsetbv, &InvalidOpcode);
        table.Set(Code.Rdtsc, &Rdtsc);
        table.Set(Code.Rdtscp, &Rdtscp);
    }

    private static void Rdmsr(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireKernel(cpu);
        ulong value = ModelSpecificRegisters.Read(cpu, (uint)cpu.Gpr[Rcx]);
        cpu.Gpr[Rax] = (uint)value;
        cpu.Gpr[Rdx] = value >> 32;
    }

    private static void Wrmsr(CpuCore cpu, ref Instruction i)
    {
        Privilege.RequireKernel(cpu);
        ulong value = (uint)cpu.Gpr[Rax] | (cpu.Gpr[Rdx] << 32);
        ModelSpecificRegisters.Write(cpu, (uint)cpu.Gpr[Rcx], value);
    }

    private static void Rdpmc(CpuCore cpu, ref Instruction i) => throw new GuestFault(GuestFault.GeneralProtection, 0);

    private static void InvalidOpcode(CpuCore cpu, ref Instruction i) => throw new GuestFault(GuestFault.InvalidOpcode);

    private static void Rdtsc(CpuCore cpu, ref Instruction i)
    {
        if ((cpu.Cr4 & Cr4TimeStampDisable) != 0 && cpu.Cpl != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
        ulong tsc = cpu.ReadTimeStampCounter();
        cpu.Gpr[Rax] = (uint)tsc;
        cpu.Gpr[Rdx] = tsc >> 32;
    }

    private static void Rdtscp(CpuCore cpu, ref Instruction i)
    {
        Rdtsc(cpu, ref i);
        cpu.Gpr[Rcx] = cpu.TscAux;
    }
}
