namespace Sharpvisor.Machine.Cpu;

/// <summary>
/// What we take away from an engine's CPUID before any guest sees it: features whose state our vCPU record cannot
/// carry, so that a guest that uses them could not be snapshotted or migrated faithfully.
/// </summary>
public static class CpuidPolicy
{
    /// <summary>The XSAVE image <see cref="FpuState.XsaveArea"/> carries.</summary>
    public const int XsaveAreaBytes = 4096;

    public static CpuidEntry[] Filter(IReadOnlyList<CpuidEntry> baseline)
    {
        // XSAVE components laid out beyond the 4 KiB area (AMX tile data, for one) are not advertised.
        ulong unfit = 0;
        foreach (var e in baseline)
            if (e.Function == 0xD && e.Index >= 2 && e.Index < 63 && e.Eax != 0 && e.Ebx + e.Eax > XsaveAreaBytes)
                unfit |= 1UL << (int)e.Index;
        if ((unfit & (1UL << 18)) != 0) unfit |= 1UL << 17; // AMX's tile config goes only with its tile data

        var result = new List<CpuidEntry>(baseline.Count);
        foreach (var e in baseline)
        {
            if (e.Function == 0xD && e.Index >= 2 && (unfit & (1UL << (int)Math.Min(e.Index, 63))) != 0)
                continue;
            result.Add(e switch
            {
                // The performance-monitoring unit: its counters' MSRs are not part of the saved state.
                { Function: 0xA } => e with { Eax = 0, Ebx = 0, Ecx = 0, Edx = 0 },
                { Function: 0xD, Index: 0 } => e with
                {
                    Eax = e.Eax & ~(uint)unfit, Edx = e.Edx & ~(uint)(unfit >> 32),
                    Ecx = Math.Min(e.Ecx, XsaveAreaBytes), Ebx = Math.Min(e.Ebx, XsaveAreaBytes),
                },
                { Function: 0xD, Index: 1 } => e with { Ebx = Math.Min(e.Ebx, XsaveAreaBytes) },
                _ => e,
            });
        }
        return result.ToArray();
    }
}
