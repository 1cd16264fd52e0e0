namespace Sharpvisor.Machine.Cpu;

/// <summary>
/// Turns an engine's baseline CPUID table into the one a given vCPU sees: the configured topology in the leaves that
/// describe it (1, 4, 0xB, 0x1F, and AMD's 0x80000008 and 0x8000001E), its own APIC ID, and the hypervisor bit.
/// </summary>
public static class CpuidShaper
{
    public const uint HypervisorBit = 1u << 31;   // leaf 1 ECX
    public const uint HyperThreadingBit = 1u << 28; // leaf 1 EDX

    public static CpuidEntry[] Shape(IReadOnlyList<CpuidEntry> baseline, CpuTopology topology, int vcpuIndex)
    {
        uint apicId = topology.ApicId(vcpuIndex);
        int threadBits = topology.ThreadBits, coreBits = topology.CoreBits;
        uint maxBasic = baseline.FirstOrDefault(e => e.Function == 0).Eax;
        var result = new List<CpuidEntry>(baseline.Count + 8);

        foreach (var e in baseline)
        {
            switch (e.Function)
            {
                case 1:
                    uint logicalPerPackage = 1u << (coreBits + threadBits);
                    uint ebx = (e.Ebx & 0x0000_FFFF) | (Math.Min(logicalPerPackage, 255u) << 16) | ((apicId & 0xFF) << 24);
                    uint edx = topology.ThreadsPerSocket > 1 ? e.Edx | HyperThreadingBit : e.Edx & ~HyperThreadingBit;
                    result.Add(e with { Ebx = ebx, Ecx = e.Ecx | HypervisorBit, Edx = edx });
                    break;
                case 4:
                    uint cacheLevel = (e.Eax >> 5) & 7;
                    if ((e.Eax & 0x1F) == 0) { result.Add(e); break; } // no more caches
                    uint sharing = cacheLevel >= 3 ? (1u << (coreBits + threadBits)) - 1 : (1u << threadBits) - 1;
                    uint eax = (e.Eax & 0x3FFF) | ((sharing & 0xFFF) << 14) | ((uint)((1 << coreBits) - 1) << 26);
                    result.Add(e with { Eax = eax });
                    break;
                case 0xB:
                case 0x1F:
                    break; // rebuilt below
                case 0x8000_0008:
                    uint nc = (uint)topology.ThreadsPerSocket - 1;
                    uint idSize = (uint)(coreBits + threadBits);
                    result.Add(e with { Ecx = (e.Ecx & ~0xF0FFu) | (nc & 0xFF) | (idSize << 12) });
                    break;
                case 0x8000_001E:
                    uint threadsPerCore = (uint)topology.Threads - 1;
                    uint coreId = (uint)topology.Locate(vcpuIndex).Core;
                    result.Add(e with { Eax = apicId, Ebx = (e.Ebx & ~0xFFFFu) | (threadsPerCore << 8) | (coreId & 0xFF), Ecx = e.Ecx & ~0xFFu | (uint)topology.Locate(vcpuIndex).Socket });
                    break;
                default:
                    result.Add(e);
                    break;
            }
        }

        if (maxBasic >= 0xB) AddExtendedTopology(result, 0xB, topology, apicId);
        if (maxBasic >= 0x1F) AddExtendedTopology(result, 0x1F, topology, apicId);
        return result.ToArray();
    }

    // Leaf 0xB/0x1F: level 0 = SMT, level 1 = core; each gives the APIC-ID shift to the next level and the count of
    // logical processors at that level; a level of type 0 ends the list.
    private static void AddExtendedTopology(List<CpuidEntry> into, uint leaf, CpuTopology t, uint apicId)
    {
        into.Add(new CpuidEntry(leaf, 0, true, (uint)t.ThreadBits, (uint)t.Threads, 0 | (1u << 8), apicId));
        into.Add(new CpuidEntry(leaf, 1, true, (uint)(t.ThreadBits + t.CoreBits), (uint)t.ThreadsPerSocket, 1 | (2u << 8), apicId));
        into.Add(new CpuidEntry(leaf, 2, true, 0, 0, 2, apicId));
    }
}
