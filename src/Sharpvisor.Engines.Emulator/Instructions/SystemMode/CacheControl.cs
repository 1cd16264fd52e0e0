using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// Cache hints the kernel uses: CLFLUSH (checks the address like a read, so it can page-fault, then does nothing:
/// there is no cache), PREFETCHT0/T1/T2/NTA (never fault, do nothing), MOVNTI (an ordinary store).
/// </summary>
public static unsafe class CacheControl
{
    public static void Register(InstructionTable table)
    {
        table.Set(Code.Clflush_m8, &Clflush);
        table.Set(Code.Prefetcht0_m8, &Prefetch);
        table.Set(Code.Prefetcht1_m8, &Prefetch);
        table.Set(Code.Prefetcht2_m8, &Prefetch);
        table.Set(Code.Prefetchnta_m8, &Prefetch);
        table.Set(Code.Movnti_m32_r32, &Movnti);
        table.Set(Code.Movnti_m64_r64, &Movnti);
    }

    private static void Clflush(CpuCore cpu, ref Instruction i) =>
        cpu.Memory.Translator.Translate(Operands.EffectiveAddress(cpu, i), Memory.AccessKind.Read);

    private static void Prefetch(CpuCore cpu, ref Instruction i) { }

    private static void Movnti(CpuCore cpu, ref Instruction i)
    {
        int width = Operands.RegisterWidth(i.Op1Register);
        cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), width, Operands.ReadRegister(cpu, i.Op1Register));
    }
}
