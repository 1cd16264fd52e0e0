using Sharpvisor.Engines.Kvm.Native;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Engines.Kvm;

/// <summary>Which MSRs a vCPU's saved state carries: the ones Linux and our guests use that this KVM can save.</summary>
internal static class KvmMsrs
{
    // EFER and APIC_BASE travel in the segment-register state; the rest are listed here.
    public static readonly uint[] Candidates =
    [
        0x10,        // TSC
        0x174, 0x175, 0x176, // SYSENTER_CS/ESP/EIP
        0x1A0,       // MISC_ENABLE
        0x277,       // PAT
        0x2FF,       // MTRR default type
        0x6E0,       // TSC_DEADLINE
        0xC000_0081, 0xC000_0082, 0xC000_0083, 0xC000_0084, // STAR, LSTAR, CSTAR, SFMASK
        0xC000_0102, // KERNEL_GS_BASE
        0xC000_0103, // TSC_AUX
        0x4B56_4D00, 0x4B56_4D01, // kvm-clock wall clock and system time
        0x4B56_4D02, 0x4B56_4D03, 0x4B56_4D04, // async PF, steal time, PV EOI
    ];

    public static unsafe uint[] SavedIndices(FileDescriptorHandle kvm)
    {
        const int max = 1024;
        uint* list = stackalloc uint[max + 1];
        list[0] = max;
        if (Libc.ioctl(kvm.Fd, KvmIoctls.GetMsrIndexList, list) < 0) return [];
        var supported = new HashSet<uint>();
        for (int i = 0; i < list[0]; i++) supported.Add(list[1 + i]);
        return Candidates.Where(supported.Contains).ToArray();
    }
}
