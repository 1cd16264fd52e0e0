using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// Cache hints an emulator has no cache for: PREFETCHh (never faults, does nothing), MOVNTI (an ordinary store),
/// CLFLUSH (no data to write back, but it checks the line's address like a byte read, so it raises #PF/#GP as the
/// SDM says).
/// </summary>
public static class CacheControl
{
    public static unsafe void Register(InstructionTable t)
    {
        t.Set(Code.Prefetchnta_m8, &Prefetch);
        t.Set(Code.Prefetcht0_m8, &Prefetch);
        t.Set(Code.Prefetcht1_m8, &Prefetch);
        t.Set(Code.Prefetcht2_m8, &Prefetch);
        t.Set(Code.Movnti_m32_r32, &StoreNonTemporal);
        t.Set(Code.Movnti_m64_r64, &StoreNonTemporal);
        t.Set(Code.Clflush_m8, &Flush);
    }

    private static void Prefetch(CpuCore cpu, ref Instruction i)
    {
    }

    private static void StoreNonTemporal(CpuCore cpu, ref Instruction i)
    {
        int width = Operands.Width(i, 1);
        Operands.Write(cpu, i, 0, width, Operands.Read(cpu, i, 1, width));
    }

    private static void Flush(CpuCore cpu, ref Instruction i) =>
        cpu.Memory.Translator.Translate(Operands.EffectiveAddress(cpu, i), AccessKind.Read);
}
