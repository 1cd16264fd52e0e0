using Iced.Intel;

namespace Sharpvisor.Coverage.Census;

/// <summary>
/// Sets of CPUID features a CPU may advertise; an instruction form is reachable under a set when every feature
/// Iced lists for it is in the set (guest code checks CPUID before using optional instructions, so forms needing
/// more sit behind branches a guest on that CPU never takes).
/// </summary>
public static class CpuidFeatureSets
{
    /// <summary>
    /// What a conservative x86-64 emulator advertises; the one place this choice is made, so the emulator's CPUID
    /// leaves can be built from the same set. It is the x86-64 psABI baseline (x86-64-v1: CMOV, CX8, FPU, FXSR, MMX,
    /// SYSCALL, SSE, SSE2), plus what Linux's x86-64 required-features list and its boot path take for granted
    /// (MSR, TSC for RDTSC, CLFLUSH, CPUID, PAUSE, multi-byte NOP).
    /// Left out on purpose:
    /// - CMPXCHG16B, POPCNT, SSE3, SSSE3, SSE4.x, LAHF in 64-bit mode: x86-64-v2; Linux 6.1 and a baseline busybox
    ///   test for them (CMPXCHG16B gates SLUB's double-word cmpxchg).
    /// - RDTSCP, RDPID: the kernel and vDSO fall back to RDTSC and LSL.
    /// - XSAVE and friends, AVX and later, FSGSBASE, PCID/INVPCID, SMAP, PKU, RDRAND: optional, the kernel checks.
    /// - PREFETCHW (3DNowPrefetch): optional, used through alternatives.
    /// - the *_ONLY features: instructions that exist only on 8086/286/386/486 parts, not on x86-64 CPUs.
    /// </summary>
    public static readonly IReadOnlySet<CpuidFeature> BaselineX86_64 = new HashSet<CpuidFeature>
    {
        CpuidFeature.INTEL8086, CpuidFeature.INTEL186, CpuidFeature.INTEL286, CpuidFeature.INTEL386,
        CpuidFeature.INTEL486, CpuidFeature.X64,
        CpuidFeature.FPU, CpuidFeature.FPU287, CpuidFeature.FPU387,
        CpuidFeature.CMOV, CpuidFeature.CX8, CpuidFeature.MMX, CpuidFeature.FXSR,
        CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.SYSCALL,
        CpuidFeature.MSR, CpuidFeature.TSC, CpuidFeature.CLFSH, CpuidFeature.CPUID, CpuidFeature.PAUSE,
        CpuidFeature.MULTIBYTENOP,
    };

    /// <summary>Every feature Iced knows: no form is excluded.</summary>
    public static readonly IReadOnlySet<CpuidFeature> All = new HashSet<CpuidFeature>(Enum.GetValues<CpuidFeature>());

    /// <summary>True when every feature the form needs is advertised.</summary>
    public static bool IsReachable(Code code, IReadOnlySet<CpuidFeature> advertised)
    {
        foreach (var feature in code.CpuidFeatures())
        {
            if (!advertised.Contains(feature)) return false;
        }
        return true;
    }

    /// <summary>
    /// Encodings that a CPU lacking the form's feature still runs, as an older form, and that compilers put into
    /// baseline code on purpose: F3 0F BC (TZCNT) runs as BSF without BMI1, and GCC emits it as "rep bsf" for
    /// count-trailing-zeros because both agree on non-zero input (Linux's __ffs does the same by hand); ENDBR and
    /// RDSSP sit in the 0F 1E hint-NOP space and run as NOPs without CET. LZCNT is not here: it runs as BSR, whose
    /// result differs, so compilers only emit it when LZCNT is known to be present.
    /// </summary>
    public static readonly IReadOnlyDictionary<Code, Code> Fallbacks = new Dictionary<Code, Code>
    {
        [Code.Tzcnt_r16_rm16] = Code.Bsf_r16_rm16,
        [Code.Tzcnt_r32_rm32] = Code.Bsf_r32_rm32,
        [Code.Tzcnt_r64_rm64] = Code.Bsf_r64_rm64,
        [Code.Endbr32] = Code.Reservednop_rm32_r32_0F1E,
        [Code.Endbr64] = Code.Reservednop_rm32_r32_0F1E,
        [Code.Rdsspd_r32] = Code.Reservednop_rm32_r32_0F1E,
        [Code.Rdsspq_r64] = Code.Reservednop_rm64_r64_0F1E,
    };

    /// <summary>
    /// The form a CPU advertising <paramref name="advertised"/> runs in place of <paramref name="code"/> when it
    /// lacks the code's own features (see <see cref="Fallbacks"/>); null when the code is reachable as itself or
    /// has no reachable fallback.
    /// </summary>
    public static Code? FallbackUnder(Code code, IReadOnlySet<CpuidFeature> advertised) =>
        !IsReachable(code, advertised) && Fallbacks.TryGetValue(code, out var fallback) && IsReachable(fallback, advertised)
            ? fallback
            : null;

    /// <summary>The named sets the command line accepts: "baseline" and "all".</summary>
    public static IReadOnlySet<CpuidFeature> ByName(string name) => name switch
    {
        "baseline" => BaselineX86_64,
        "all" => All,
        _ => throw new ArgumentException($"Unknown feature set '{name}' (expected baseline or all).", nameof(name)),
    };
}
