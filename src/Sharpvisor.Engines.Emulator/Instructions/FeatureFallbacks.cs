using Iced.Intel;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// Encodings that a CPU without a feature runs as an older instruction, because the feature's prefix is ignored
/// there: TZCNT (F3 0F BC) is BSF and LZCNT (F3 0F BD) is BSR when BMI1 and ABM are not advertised, as in our CPUID.
/// Compilers emit TZCNT on purpose for this: it gives the right answer for nonzero inputs on every x86-64. Likewise
/// the CET instructions ENDBR32/ENDBR64 and RDSSPD/RDSSPQ sit in the hint-NOP space (0F 1E) and do nothing without
/// CET, which is how glibc and the kernel can use them unconditionally; so do the other encodings of the 0F 1E row
/// (the forms Iced calls "reserved NOP"). The other hint-NOP rows are left alone: Iced decodes most of their memory
/// forms as newer instructions (PREFETCHW, CLDEMOTE, the MPX BND* forms), which are not advertised.
/// </summary>
public static class FeatureFallbacks
{
    /// <summary>Runs after the groups that register BSF and BSR.</summary>
    public static unsafe void Register(InstructionTable table)
    {
        (Code Modern, Code Legacy)[] pairs =
        [
            (Code.Tzcnt_r16_rm16, Code.Bsf_r16_rm16), (Code.Tzcnt_r32_rm32, Code.Bsf_r32_rm32), (Code.Tzcnt_r64_rm64, Code.Bsf_r64_rm64),
            (Code.Lzcnt_r16_rm16, Code.Bsr_r16_rm16), (Code.Lzcnt_r32_rm32, Code.Bsr_r32_rm32), (Code.Lzcnt_r64_rm64, Code.Bsr_r64_rm64),
        ];
        foreach (var (modern, legacy) in pairs)
            table.Set(modern, Registered(table, legacy, modern));

        var nop = Registered(table, Code.Nopd, Code.Endbr64);
        foreach (var code in (Code[])[Code.Endbr32, Code.Endbr64, Code.Rdsspd_r32, Code.Rdsspq_r64])
            table.Set(code, nop);
        foreach (var code in Enum.GetValues<Code>())
            if (code.Mnemonic() == Mnemonic.Reservednop && code.ToString().EndsWith("0F1E")) table.Set(code, nop);
    }

    private static unsafe delegate*<Execution.CpuCore, ref Instruction, void> Registered(InstructionTable table, Code legacy, Code modern)
    {
        var handler = table[legacy];
        if (handler == null) throw new InvalidOperationException($"{legacy} must be registered before {modern}, which runs as it");
        return handler;
    }
}
