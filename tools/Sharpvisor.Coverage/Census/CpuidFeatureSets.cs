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

    /// <summary>The named sets the command line accepts: "baseline" and "all".</summary>
    public static IReadOnlySet<CpuidFeature> ByName(string name) => name switch
    {
        "baseline" => BaselineX86_64,
        "all" => All,
        _ => throw new ArgumentException($"Unknown feature set '{name}' (expected baseline or all).", nameof(name)),
    };
}
