using Iced.Intel;

namespace Sharpvisor.Coverage.Census;

/// <summary>
/// Puts an instruction form (an Iced <see cref="Code"/>) into a <see cref="FormCategory"/> from Iced's own tables:
/// its CPUID features, encoding, operand kinds and privilege. The first rule that matches wins:
/// 1. System: privileged (<see cref="InstructionInfoExtensions.IsPrivileged(Code)"/>), a system mnemonic
///    (<see cref="SystemMnemonics"/>), or a virtualization/enclave/security feature (<see cref="SystemFeatures"/>).
/// 2. X87: an x87 CPUID feature, or an ST operand.
/// 3. Avx: VEX/EVEX/XOP/MVEX encoding that touches vector or mask registers or needs an AVX-family feature.
/// 4. Mmx: 3DNow! encoding, an MM operand, or the MMX/3DNow! features.
/// 5. Sse: legacy encoding with an XMM operand, or MXCSR access (LDMXCSR/STMXCSR).
/// 6. GeneralPurpose: every feature is in <see cref="GeneralPurposeFeatures"/> (an SSE fence or MOVNTI, which
///    touch no XMM register, lands here too).
/// 7. Other.
/// </summary>
public static class FormClassifier
{
    /// <summary>Unprivileged instructions that nonetheless reach machine state an emulator must model.</summary>
    public static readonly IReadOnlySet<Mnemonic> SystemMnemonics = new HashSet<Mnemonic>
    {
        Mnemonic.Cpuid, Mnemonic.Syscall, Mnemonic.Sysret, Mnemonic.Sysretq, Mnemonic.Sysenter, Mnemonic.Sysexit,
        Mnemonic.Sysexitq, Mnemonic.Rdtsc, Mnemonic.Rdtscp, Mnemonic.Rdpid, Mnemonic.Rdpmc, Mnemonic.Xgetbv,
        Mnemonic.Lsl, Mnemonic.Lar, Mnemonic.Verr, Mnemonic.Verw, Mnemonic.Sgdt, Mnemonic.Sidt, Mnemonic.Sldt,
        Mnemonic.Str, Mnemonic.Smsw, Mnemonic.Int, Mnemonic.Int1, Mnemonic.Int3, Mnemonic.Into, Mnemonic.Iret,
        Mnemonic.Iretd, Mnemonic.Iretq, Mnemonic.Ud0, Mnemonic.Ud1, Mnemonic.Ud2, Mnemonic.Rdfsbase,
        Mnemonic.Rdgsbase, Mnemonic.Wrfsbase, Mnemonic.Wrgsbase, Mnemonic.Swapgs, Mnemonic.Fxsave,
        Mnemonic.Fxsave64, Mnemonic.Fxrstor, Mnemonic.Fxrstor64, Mnemonic.Xsave, Mnemonic.Xsave64, Mnemonic.Xrstor,
        Mnemonic.Xrstor64, Mnemonic.Xsaveopt, Mnemonic.Xsaveopt64, Mnemonic.Xsavec, Mnemonic.Xsavec64,
        Mnemonic.Xsaves, Mnemonic.Xsaves64, Mnemonic.Xrstors, Mnemonic.Xrstors64, Mnemonic.Rdpkru,
        Mnemonic.Wrpkru, Mnemonic.Stac, Mnemonic.Clac, Mnemonic.Serialize, Mnemonic.Endbr64, Mnemonic.Endbr32,
    };

    /// <summary>Features whose every instruction is about virtualization, enclaves, system management or security.</summary>
    public static readonly IReadOnlySet<CpuidFeature> SystemFeatures = new HashSet<CpuidFeature>
    {
        CpuidFeature.VMX, CpuidFeature.SVM, CpuidFeature.SKINIT, CpuidFeature.SKINIT_or_SVM, CpuidFeature.SMX,
        CpuidFeature.SGX1, CpuidFeature.INVEPT, CpuidFeature.INVVPID, CpuidFeature.INVPCID, CpuidFeature.SMM,
        CpuidFeature.SEV_ES, CpuidFeature.SEV_SNP, CpuidFeature.TDX, CpuidFeature.MSR, CpuidFeature.MSRLIST,
        CpuidFeature.WRMSRNS, CpuidFeature.SMAP, CpuidFeature.PKU, CpuidFeature.CET_SS, CpuidFeature.CET_IBT,
        CpuidFeature.FRED, CpuidFeature.LKGS, CpuidFeature.UINTR, CpuidFeature.PCONFIG, CpuidFeature.INVLPGB,
        CpuidFeature.RMPQUERY, CpuidFeature.FSGSBASE, CpuidFeature.MONITOR, CpuidFeature.MONITORX,
        CpuidFeature.WAITPKG,
    };

    public static readonly IReadOnlySet<CpuidFeature> X87Features = new HashSet<CpuidFeature>
    {
        CpuidFeature.FPU, CpuidFeature.FPU287, CpuidFeature.FPU287XL_ONLY, CpuidFeature.FPU387,
        CpuidFeature.FPU387SL_ONLY, CpuidFeature.CYRIX_FPU,
    };

    public static readonly IReadOnlySet<CpuidFeature> MmxFeatures = new HashSet<CpuidFeature>
    {
        CpuidFeature.MMX, CpuidFeature.D3NOW, CpuidFeature.D3NOWEXT, CpuidFeature.CYRIX_D3NOW,
    };

    /// <summary>
    /// Features of integer instructions on general-purpose registers and memory. The SSE-family entries matter only
    /// for forms that reach rule 6, i.e. touch no XMM register: fences, non-temporal GP stores, prefetches, CRC32.
    /// </summary>
    public static readonly IReadOnlySet<CpuidFeature> GeneralPurposeFeatures = new HashSet<CpuidFeature>
    {
        CpuidFeature.INTEL8086, CpuidFeature.INTEL8086_ONLY, CpuidFeature.INTEL186, CpuidFeature.INTEL286,
        CpuidFeature.INTEL286_ONLY, CpuidFeature.INTEL386, CpuidFeature.INTEL386_ONLY, CpuidFeature.INTEL386_A0_ONLY,
        CpuidFeature.INTEL486, CpuidFeature.INTEL486_A_ONLY, CpuidFeature.X64, CpuidFeature.CMOV, CpuidFeature.CX8,
        CpuidFeature.CMPXCHG16B, CpuidFeature.POPCNT, CpuidFeature.LZCNT, CpuidFeature.BMI1, CpuidFeature.BMI2,
        CpuidFeature.TBM, CpuidFeature.ADX, CpuidFeature.MOVBE, CpuidFeature.RDRAND, CpuidFeature.RDSEED,
        CpuidFeature.MULTIBYTENOP, CpuidFeature.PAUSE, CpuidFeature.PREFETCHW, CpuidFeature.PREFETCHWT1,
        CpuidFeature.CLFSH, CpuidFeature.CLFLUSHOPT, CpuidFeature.CLWB, CpuidFeature.CLDEMOTE, CpuidFeature.CLZERO,
        CpuidFeature.MOVDIRI, CpuidFeature.MOVDIR64B, CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.SSE3, CpuidFeature.SSE4_2, CpuidFeature.SSE4A,
    };

    private static readonly IReadOnlySet<Mnemonic> SseStateMnemonics = new HashSet<Mnemonic>
    {
        Mnemonic.Ldmxcsr, Mnemonic.Stmxcsr,
    };

    private static readonly IReadOnlySet<CpuidFeature> AvxOnlyFeatures = new HashSet<CpuidFeature>(
        Enum.GetValues<CpuidFeature>().Where(f => f.ToString().StartsWith("AVX", StringComparison.Ordinal))
            .Concat([CpuidFeature.FMA, CpuidFeature.FMA4, CpuidFeature.F16C, CpuidFeature.XOP]));

    private static readonly FormCategory[] Cache = BuildCache();

    /// <summary>The category of a form; a table lookup after the first call.</summary>
    public static FormCategory Classify(Code code) => Cache[(int)code];

    private static FormCategory[] BuildCache()
    {
        var codes = Enum.GetValues<Code>();
        var table = new FormCategory[codes.Max(c => (int)c) + 1];
        foreach (var code in codes) table[(int)code] = ClassifyUncached(code);
        return table;
    }

    private static FormCategory ClassifyUncached(Code code)
    {
        if (code == Code.INVALID) return FormCategory.Other;
        CpuidFeature[] features = code.CpuidFeatures();
        OpCodeInfo opCode = code.ToOpCode();
        if (code.IsPrivileged() || SystemMnemonics.Contains(code.Mnemonic()) || features.Any(SystemFeatures.Contains))
            return FormCategory.System;

        var operands = Enumerable.Range(0, opCode.OpCount).Select(opCode.GetOpKind).ToArray();
        if (features.Any(X87Features.Contains) || operands.Any(k => k is OpCodeOperandKind.st0 or OpCodeOperandKind.sti_opcode))
            return FormCategory.X87;

        bool usesMm = operands.Any(k => k is OpCodeOperandKind.mm_reg or OpCodeOperandKind.mm_rm or OpCodeOperandKind.mm_or_mem);
        bool usesVector = operands.Any(IsVectorOrMaskOperand);
        switch (opCode.Encoding)
        {
            case EncodingKind.VEX or EncodingKind.EVEX or EncodingKind.XOP or EncodingKind.MVEX:
                if (usesVector || features.Any(AvxOnlyFeatures.Contains)) return FormCategory.Avx;
                break;
            case EncodingKind.D3NOW:
                return FormCategory.Mmx;
        }
        if (usesMm || features.Any(MmxFeatures.Contains)) return FormCategory.Mmx;
        if (usesVector || SseStateMnemonics.Contains(code.Mnemonic())) return FormCategory.Sse;
        if (features.All(GeneralPurposeFeatures.Contains)) return FormCategory.GeneralPurpose;
        return FormCategory.Other;
    }

    private static bool IsVectorOrMaskOperand(OpCodeOperandKind kind)
    {
        string name = kind.ToString();
        return name.StartsWith("xmm", StringComparison.Ordinal) || name.StartsWith("ymm", StringComparison.Ordinal) ||
               name.StartsWith("zmm", StringComparison.Ordinal) || name.StartsWith("k_", StringComparison.Ordinal) ||
               name.StartsWith("kp1", StringComparison.Ordinal) || name.StartsWith("mem_vsib", StringComparison.Ordinal);
    }
}
