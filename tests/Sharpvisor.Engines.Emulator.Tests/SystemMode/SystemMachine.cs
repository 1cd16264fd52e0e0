using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.SystemMode;

/// <summary>
/// A 64-bit kernel's view of the CPU built in RAM (identity-mapped): a GDT laid out like Linux's (kernel code 0x08,
/// kernel data 0x10, user code32 0x18, user data 0x20, user code64 0x28, TSS 0x30), an IDT whose 256 interrupt gates
/// lead to stubs that HLT and then IRETQ (dropping the error code), and a TSS with RSP0, IST1 and an I/O bitmap that
/// denies every port. The core is in long mode at CPL 0 with exceptions delivered through the IDT.
/// </summary>
internal sealed class SystemMachine : IDisposable
{
    public const ulong Gdt = 0x1000, Idt = 0x2000, Tss = 0x4000, HandlerBase = 0x40000, Rsp0 = 0x70000, Ist1 = 0x68008, UserStack = 0x50000;
    public const ushort KernelCode = 0x08, KernelData = 0x10, UserCode32 = 0x1B, UserData = 0x23, UserCode64 = 0x2B, TssSelector = 0x30;
    public const uint TssLimit = 0x68 + 0x2000;

    public static readonly ulong[] Descriptors =
    [
        0, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF, 0x00CF_FB00_0000_FFFF, 0x00CF_F300_0000_FFFF, 0x00AF_FB00_0000_FFFF,
    ];

    /// <summary>CPUID as a baseline x86-64 part reports it: PSE, TSC, PAE, PGE, DE, FXSR, SSE; SYSCALL, NX, LM; 40 physical address bits.</summary>
    public static readonly CpuidEntry[] Baseline =
    [
        new(0, 0, false, 1, 0, 0, 0),
        new(1, 0, false, 0x60F, 0, 0, (1u << 2) | (1u << 3) | (1u << 4) | (1u << 6) | (1u << 13) | (1u << 24) | (1u << 25)),
        new(0x8000_0000, 0, false, 0x8000_0008, 0, 0, 0),
        new(0x8000_0001, 0, false, 0, 0, 0, (1u << 11) | (1u << 20) | (1u << 29)),
        new(0x8000_0008, 0, false, 0x3028, 0, 0, 0),
    ];

    public EmulatorHarness H { get; }
    public CpuCore Cpu => H.Cpu;

    public SystemMachine(IAddressTranslator? translator = null)
    {
        H = new EmulatorHarness(translator);
        var ram = H.Ram;
        for (int n = 0; n < Descriptors.Length; n++) ram.WriteUInt64(Gdt + (ulong)n * 8, Descriptors[n]);
        ulong limit = TssLimit;
        ram.WriteUInt64(Gdt + 0x30, (limit & 0xFFFF) | ((Tss & 0xFF_FFFF) << 16) | (0x89UL << 40) | (((limit >> 16) & 0xF) << 48) | ((Tss >> 24 & 0xFF) << 56));
        ram.WriteUInt64(Gdt + 0x38, Tss >> 32);
        ram.WriteUInt64(Tss + 4, Rsp0);
        ram.WriteUInt64(Tss + 0x24, Ist1);
        ram.WriteUInt16(Tss + 0x66, 0x68);
        ram.Write(Tss + 0x68, Enumerable.Repeat((byte)0xFF, 0x2001).ToArray());

        for (int v = 0; v < 256; v++)
        {
            SetGate((byte)v, HandlerAddress((byte)v));
            bool errorCode = Interpreter.HasErrorCode((byte)v);
            H.Load(a =>
            {
                a.hlt();
                if (errorCode) a.add(rsp, 8);
                a.iretq();
            }, HandlerAddress((byte)v));
        }

        var cpu = Cpu;
        cpu.Cpuid = Baseline;
        cpu.Cr0 = 0x8005_0033;
        cpu.Cr4 = CpuCore.Cr4Pae | CpuCore.Cr4Pge | CpuCore.Cr4OsFxsr | CpuCore.Cr4OsXmmExcpt;
        cpu.Efer = CpuCore.EferSyscallEnable | CpuCore.EferLongModeEnable | CpuCore.EferLongModeActive | CpuCore.EferNoExecuteEnable;
        cpu.GdtBase = Gdt;
        cpu.GdtLimit = 0x3F;
        cpu.IdtBase = Idt;
        cpu.IdtLimit = 0xFFF;
        cpu.Segments[CpuCore.Cs] = Segmentation.FromDescriptor(KernelCode, Descriptors[1]);
        cpu.Segments[CpuCore.Ss] = Segmentation.FromDescriptor(KernelData, Descriptors[2]);
        for (int s = 0; s < 6; s++)
            if (s is not (CpuCore.Cs or CpuCore.Ss)) cpu.Segments[s] = Segmentation.Null(0);
        cpu.Tr = new SegmentCache { Selector = TssSelector, Base = Tss, Limit = TssLimit, Attributes = 0x8B };
        cpu.Ldtr = Segmentation.Null(0);
        cpu.Cpl = 0;
        cpu.DeliverExceptions = true;
        cpu.UpdateBitness();
        cpu.BlockExitRequested = false;
    }

    public static ulong HandlerAddress(byte vector) => HandlerBase + (ulong)vector * 0x20;

    /// <summary>A 64-bit gate: interrupt (clears IF) or trap, with its DPL and IST index.</summary>
    public void SetGate(byte vector, ulong handler, int dpl = 0, int ist = 0, bool trap = false, bool present = true, ushort selector = KernelCode)
    {
        ulong low = (handler & 0xFFFF) | ((ulong)selector << 16) | ((ulong)ist << 32) | ((trap ? 0xFUL : 0xEUL) << 40)
            | ((ulong)dpl << 45) | (present ? 1UL << 47 : 0) | (((handler >> 16) & 0xFFFF) << 48);
        H.Ram.WriteUInt64(Idt + (ulong)vector * 16, low);
        H.Ram.WriteUInt64(Idt + (ulong)vector * 16 + 8, handler >> 32);
    }

    /// <summary>Drops to CPL 3 in 64-bit user code with the user stack, as after an IRETQ to user mode.</summary>
    public void EnterUserMode(ulong rip, ulong rsp = UserStack)
    {
        var cpu = Cpu;
        cpu.Segments[CpuCore.Cs] = Segmentation.FromDescriptor(UserCode64, Descriptors[5]);
        cpu.Segments[CpuCore.Ss] = Segmentation.FromDescriptor(UserData, Descriptors[4]);
        cpu.Cpl = 3;
        cpu.Rip = rip;
        cpu.Gpr[CpuCore.Rsp] = rsp;
        cpu.UpdateBitness();
        cpu.BlockExitRequested = false;
    }

    /// <summary>Runs until the core stops for something other than the budget.</summary>
    public StopReason Run(long budget = 100_000)
    {
        while (true)
        {
            long before = Cpu.InstructionsRetired;
            var reason = H.Interpreter.Run(Math.Min(budget, 1000));
            budget -= Cpu.InstructionsRetired - before;
            if (reason != StopReason.BudgetExhausted || budget <= 0) return reason;
        }
    }

    /// <summary>The handler for <paramref name="vector"/> is where the core halted (RIP just after its HLT).</summary>
    public bool HaltedIn(byte vector) => Cpu.Halted && Cpu.Rip == HandlerAddress(vector) + 1;

    public ulong StackQword(int index) => H.Ram.ReadUInt64(Cpu.Gpr[CpuCore.Rsp] + (ulong)index * 8);

    /// <summary>Resumes from a handler's HLT (the stub then IRETQs).</summary>
    public void Resume() => Cpu.Halted = false;

    public void Dispose() => H.Dispose();
}
