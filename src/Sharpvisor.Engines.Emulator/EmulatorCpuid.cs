using System.Text;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Emulator;

/// <summary>
/// The CPUID the emulator tells its guests: exactly the features it implements (x86-64-v1 plus CX16, RDTSCP, NX,
/// x2APIC and the TSC-deadline timer), the hypervisor bit, our own vendor leaf at 4000_0000h and KVM's paravirtual
/// clock leaves at 4000_0100h (where Linux looks for them), and an invariant TSC. Topology leaves are shaped per vCPU
/// afterwards by <see cref="CpuidShaper"/>.
/// </summary>
/// <remarks>
/// The family/model is Intel family 6 model 1Ch (Bonnell), the one QEMU's "n270" model also uses: a core the kernel
/// knows to be free of speculative-execution bugs, so it applies no mitigations (page-table isolation, retpolines) that
/// would only cost an emulator time. Stepping 10 is past the Bonnell PSE erratum the kernel checks for.
/// </remarks>
public static class EmulatorCpuid
{
    public const uint HypervisorVendorLeaf = 0x4000_0000, KvmLeaf = 0x4000_0100;
    public const int PhysicalAddressBits = 40, LinearAddressBits = 48;

    // Leaf 1 EDX: FPU, PSE, TSC, MSR, PAE, CX8, APIC, PGE, CMOV, PAT, PSE-36, CLFSH, MMX, FXSR, SSE, SSE2.
    private const uint Leaf1Edx = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 9)
        | (1u << 13) | (1u << 15) | (1u << 16) | (1u << 17) | (1u << 19) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26);
    // Leaf 1 ECX: CX16, x2APIC, TSC-deadline (the hypervisor bit is added by the shaper).
    private const uint Leaf1Ecx = (1u << 13) | (1u << 21) | (1u << 24);
    // 8000_0001h EDX: SYSCALL, NX, RDTSCP, LM; ECX: LAHF/SAHF in 64-bit mode.
    private const uint Extended1Edx = (1u << 11) | (1u << 20) | (1u << 27) | (1u << 29);
    private const uint Extended1Ecx = 1u << 0;
    // KVM features: NOP_IO_DELAY (port 80h delays are pointless here), CLOCKSOURCE2, CLOCKSOURCE_STABLE_BIT.
    private const uint KvmFeatures = (1u << 1) | (1u << 3) | (1u << 24);

    public const uint FamilyModelStepping = (1u << 16) | (6u << 8) | (0xCu << 4) | 10u; // family 6, model 1Ch, stepping 10

    public static CpuidEntry[] Baseline()
    {
        var entries = new List<CpuidEntry>
        {
            Leaf(0, 0xB, Text("Genu"), Text("ntel"), Text("ineI")),
            // EBX: CLFLUSH line size 8 quadwords (64 bytes); logical count and APIC ID are filled in per vCPU.
            Leaf(1, FamilyModelStepping, 8u << 8, Leaf1Ecx, Leaf1Edx),
            // Leaf 2: "use leaf 4" (descriptor FFh) in one iteration.
            Leaf(2, 0x0000_FF01, 0, 0, 0),
            // Leaf 4: L1d 32 KiB 8-way, L1i 32 KiB 8-way, L2 1 MiB 16-way, 64-byte lines; sharing fields by the shaper.
            Sub(4, 0, 0x121, (7u << 22) | 63, 63, 0),
            Sub(4, 1, 0x122, (7u << 22) | 63, 63, 0),
            Sub(4, 2, 0x143, (15u << 22) | 63, 1023, 0),
            Sub(4, 3, 0, 0, 0, 0),
            Leaf(5, 0, 0, 0, 0),
            Leaf(6, 1u << 2, 0, 0, 0), // ARAT: the APIC timer runs in every C-state
            Sub(7, 0, 0, 0, 0, 0),
            Leaf(8, 0, 0, 0, 0), Leaf(9, 0, 0, 0, 0), Leaf(0xA, 0, 0, 0, 0),
            Sub(0xB, 0, 0, 0, 0, 0),

            Leaf(HypervisorVendorLeaf, HypervisorVendorLeaf, Text("Shar"), Text("pvis"), Text("or  ")),
            Leaf(KvmLeaf, KvmLeaf + 1, Text("KVMK"), Text("VMKV"), Text("M\0\0\0")),
            Leaf(KvmLeaf + 1, KvmFeatures, 0, 0, 0),

            Leaf(0x8000_0000, 0x8000_0008, 0, 0, 0),
            Leaf(0x8000_0001, 0, 0, Extended1Ecx, Extended1Edx),
            Leaf(0x8000_0005, 0, 0, 0, 0),
            Leaf(0x8000_0006, 0, 0, (1024u << 16) | (6u << 12) | 64, 0), // L2: 1 MiB, 16-way (encoding 6), 64-byte lines
            Leaf(0x8000_0007, 0, 0, 0, 1u << 8), // invariant TSC
            Leaf(0x8000_0008, (LinearAddressBits << 8) | PhysicalAddressBits, 0, 0, 0),
        };
        var brand = new byte[48];
        Encoding.ASCII.GetBytes("Sharpvisor emulated x86-64 CPU").CopyTo(brand, 0);
        for (uint i = 0; i < 3; i++)
        {
            int o = (int)i * 16;
            entries.Add(Leaf(0x8000_0002 + i, BitConverter.ToUInt32(brand, o), BitConverter.ToUInt32(brand, o + 4),
                BitConverter.ToUInt32(brand, o + 8), BitConverter.ToUInt32(brand, o + 12)));
        }
        return entries.ToArray();
    }

    private static CpuidEntry Leaf(uint function, uint eax, uint ebx, uint ecx, uint edx) => new(function, 0, false, eax, ebx, ecx, edx);
    private static CpuidEntry Sub(uint function, uint index, uint eax, uint ebx, uint ecx, uint edx) => new(function, index, true, eax, ebx, ecx, edx);
    private static uint Text(string four) => BitConverter.ToUInt32(Encoding.ASCII.GetBytes(four));
}
