using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// The architectural state the interpreter works on, kept in plain fields so handlers read and write registers
/// directly. It converts to and from the engine-neutral <see cref="CpuState"/> at the engine's boundary only.
/// </summary>
public sealed partial class CpuCore(EmulatedMemory memory)
{
    public const int Rax = 0, Rcx = 1, Rdx = 2, Rbx = 3, Rsp = 4, Rbp = 5, Rsi = 6, Rdi = 7;

    public GeneralRegisterFile Gpr;
    public ulong Rip;
    public LazyFlags Flags;
    /// <summary>The RFLAGS bits that are not arithmetic flags (bit 1, TF, IF, DF, IOPL, NT, RF, AC, ID...).</summary>
    public ulong ControlFlags = 0x2;
    /// <summary>ES, CS, SS, DS, FS, GS (see <see cref="SegmentCache"/>); in 64-bit mode only FS and GS have a base.</summary>
    public SegmentFile Segments;
    public const int Es = 0, Cs = 1, Ss = 2, Ds = 3, Fs = 4, Gs = 5;
    public ref ulong FsBase => ref Segments[Fs].Base;
    public ref ulong GsBase => ref Segments[Gs].Base;
    public XmmRegisterFile Xmm;
    public uint Mxcsr = 0x1F80;
    /// <summary>16, 32 or 64: the code size CS gives.</summary>
    public int Bitness = 64;
    public CpuidEntry[] Cpuid = [];
    public long InstructionsRetired;
    /// <summary>
    /// The time-stamp counter RDTSC/RDTSCP read. By default the host's monotonic clock in <see cref="System.Diagnostics.Stopwatch"/>
    /// ticks (nanoseconds on Linux); the machine sets its own source (e.g. scaled to the advertised TSC frequency).
    /// </summary>
    public Func<ulong> TimeStampCounter = static () => (ulong)System.Diagnostics.Stopwatch.GetTimestamp();
    /// <summary>IA32_TSC_AUX (MSR C000_0103h), which RDTSCP returns in ECX.</summary>
    public uint TscAux;

    public EmulatedMemory Memory { get; } = memory;

    // System state (issue 4). The paging unit reads CR0, CR3, CR4, EFER and CPL from here; code that changes them
    // tells Memory.Translator (Flush / InvalidatePage) what the architecture says to flush.
    public ulong Cr0 = 0x6000_0010, Cr2, Cr3, Cr4, Efer;
    /// <summary>Current privilege level (0 kernel .. 3 user).</summary>
    public int Cpl;
    public SegmentCache Ldtr, Tr;
    public ulong GdtBase, IdtBase;
    public ushort GdtLimit, IdtLimit;
    /// <summary>Port I/O for IN/OUT/INS/OUTS; null for a core that has no machine around it (tests, the oracle).</summary>
    public PortIoBus? Ports;
    /// <summary>IN/OUT/INS/OUTS accesses that reached <see cref="Ports"/> (each a VM exit under KVM).</summary>
    public long PortAccesses;
    /// <summary>The local APIC, or null while none is attached.</summary>
    public IInterruptSource? Interrupts;
    /// <summary>Set (from any thread) when an interrupt may have become deliverable; the interpreter checks it between blocks.</summary>
    public volatile bool InterruptCheckRequested;
    /// <summary>MSRs owned outside the core (x2APIC, TSC deadline, paravirtual clock).</summary>
    public List<IModelSpecificRegisterHandler> MsrHandlers { get; } = [];

    // x87 FPU state (Instructions/X87). The defaults are the FNINIT state, which is also FpuState's FXSAVE default
    // (the SDM's power-on control word is 0x0040; firmware and kernels run FNINIT before any x87 use).
    /// <summary>FCW: exception masks (bits 0-5), precision control (bits 8-9), rounding control (bits 10-11).</summary>
    public ushort FpuControlWord = 0x37F;
    /// <summary>FSW: exception flags (bits 0-5), SF, ES, C0-C2, TOP (bits 11-13), C3, B.</summary>
    public ushort FpuStatusWord;
    /// <summary>The abridged tag word: bit n set = physical register Rn holds a value (FXSAVE's form; the full tag word is derived from the contents).</summary>
    public byte FpuTagValid;
    /// <summary>Physical registers R0..R7; ST(i) is R[(TOP + i) & 7].</summary>
    public Instructions.X87.X87RegisterFile FpuRegisters;
    /// <summary>FOP: the 11 opcode bits of the last non-control x87 instruction.</summary>
    public ushort FpuLastOpcode;
    /// <summary>FIP and FDP: the last non-control x87 instruction's address and its memory operand's offset.</summary>
    public ulong FpuLastInstructionPointer, FpuLastDataPointer;

    public const ulong DirectionFlag = 1 << 10;

    public ulong Rflags
    {
        get => ControlFlags | Flags.ToBits();
        set
        {
            Flags.Load(value);
            ControlFlags = (value & ~LazyFlags.ArithmeticMask) | 0x2;
        }
    }

    public bool Direction => (ControlFlags & DirectionFlag) != 0;
}
