using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>CPUID from <see cref="CpuCore.Cpuid"/> (RDTSC and RDTSCP are the system-mode group's, SystemMode/MsrInstructions).</summary>
public static class ProcessorInformation
{
    private const uint ExtendedBase = 0x8000_0000, HypervisorBase = 0x4000_0000, HypervisorEnd = 0x4FFF_FFFF;

    public static unsafe void Register(InstructionTable table) => table.SetAllGeneralForms(Mnemonic.Cpuid, &Cpuid);

    /// <summary>
    /// The leaf for EAX/ECX. A leaf above the highest basic leaf (or above the highest extended leaf, in the extended
    /// range) returns the highest basic leaf's values, as Intel CPUs do. Any other leaf or subleaf the table lacks,
    /// and any missing leaf in the hypervisor range 4000_0000h..4FFF_FFFFh, returns zeros.
    /// </summary>
    public static CpuidEntry Lookup(CpuidEntry[] table, uint function, uint index)
    {
        if (TryFind(table, function, index, out var entry)) return entry;
        if (function is >= HypervisorBase and <= HypervisorEnd) return new CpuidEntry(function, index, false, 0, 0, 0, 0);
        uint maxBasic = TryFind(table, 0, 0, out var basic) ? basic.Eax : 0;
        bool beyond = function >= ExtendedBase
            ? !TryFind(table, ExtendedBase, 0, out var extended) || function > extended.Eax
            : function > maxBasic;
        if (beyond && TryFind(table, maxBasic, index, out var highest)) return highest;
        return new CpuidEntry(function, index, false, 0, 0, 0, 0);
    }

    private static bool TryFind(CpuidEntry[] table, uint function, uint index, out CpuidEntry entry)
    {
        foreach (var candidate in table)
        {
            if (candidate.Function == function && (!candidate.IndexSignificant || candidate.Index == index))
            {
                entry = candidate;
                return true;
            }
        }
        entry = default;
        return false;
    }

    private static void Cpuid(CpuCore cpu, ref Instruction i)
    {
        var entry = Lookup(cpu.Cpuid, (uint)cpu.Gpr[CpuCore.Rax], (uint)cpu.Gpr[CpuCore.Rcx]);
        cpu.Gpr[CpuCore.Rax] = entry.Eax;
        cpu.Gpr[CpuCore.Rbx] = entry.Ebx;
        cpu.Gpr[CpuCore.Rcx] = entry.Ecx;
        cpu.Gpr[CpuCore.Rdx] = entry.Edx;
    }
}
