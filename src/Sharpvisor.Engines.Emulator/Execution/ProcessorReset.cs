namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// The register state INIT and a start-up IPI give an application processor (Intel SDM vol. 3, table 9-1 and 9.4.4):
/// real mode, CR0 = 6000_0010h, EFER = 0, segments with base = selector x 16 and 64 KiB limits, GDTR/IDTR base 0
/// limit FFFFh. INIT keeps the MSRs the OS set (STAR, PAT...), the x87/SSE state and the TSC; the vCPU then waits for a
/// SIPI, whose vector v starts execution at v000h (CS = v00h, IP = 0).
/// </summary>
public static class ProcessorReset
{
    private const uint RealModeData = 0x93, RealModeCode = 0x9B, LdtAttributes = 0x82, BusyTss16 = 0x83;

    /// <summary>Applies INIT: the core is left in real mode at the reset vector's segment, not halted; the caller keeps it waiting for a SIPI.</summary>
    public static void Init(CpuCore cpu)
    {
        ulong signature = 0;
        foreach (var e in cpu.Cpuid)
            if (e.Function == 1) signature = e.Eax;
        for (int r = 0; r < 16; r++) cpu.Gpr[r] = 0;
        cpu.Gpr[CpuCore.Rdx] = signature; // EDX holds the processor signature after INIT
        cpu.Rflags = 0x2;
        cpu.Cr0 = 0x6000_0010 | (cpu.Cr0 & (CpuCore.Cr0CacheDisable | CpuCore.Cr0NotWriteThrough)); // CD/NW unchanged by INIT
        cpu.Cr2 = cpu.Cr3 = cpu.Cr4 = 0;
        cpu.Efer = 0;
        cpu.Dr0 = cpu.Dr1 = cpu.Dr2 = cpu.Dr3 = 0;
        cpu.Dr6 = 0xFFFF_0FF0;
        cpu.Dr7 = 0x400;
        for (int s = 0; s < 6; s++)
            cpu.Segments[s] = new SegmentCache { Selector = 0, Base = 0, Limit = 0xFFFF, Attributes = s == CpuCore.Cs ? RealModeCode : RealModeData };
        cpu.Segments[CpuCore.Cs] = new SegmentCache { Selector = 0xF000, Base = 0xFFFF_0000, Limit = 0xFFFF, Attributes = RealModeCode };
        cpu.Rip = 0xFFF0;
        cpu.GdtBase = cpu.IdtBase = 0;
        cpu.GdtLimit = cpu.IdtLimit = 0xFFFF;
        cpu.Ldtr = new SegmentCache { Limit = 0xFFFF, Attributes = LdtAttributes };
        cpu.Tr = new SegmentCache { Limit = 0xFFFF, Attributes = BusyTss16 };
        cpu.Cpl = 0;
        cpu.Halted = false;
        cpu.InterruptShadow = false;
        cpu.UpdateBitness();
        cpu.BlockExitRequested = false;
        cpu.Memory.Translator.Flush(includeGlobal: true);
    }

    /// <summary>A start-up IPI with <paramref name="vector"/>: real mode at vector x 4096 (CS = vector x 256, IP = 0).</summary>
    public static void StartupIpi(CpuCore cpu, byte vector)
    {
        cpu.Segments[CpuCore.Cs] = new SegmentCache
        {
            Selector = (ushort)(vector << 8), Base = (ulong)vector << 12, Limit = 0xFFFF, Attributes = RealModeCode,
        };
        cpu.Rip = 0;
        cpu.Halted = false;
        cpu.UpdateBitness();
        cpu.BlockExitRequested = false;
    }
}
