using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// The architectural state the interpreter works on, kept in plain fields so handlers read and write registers
/// directly. It converts to and from the engine-neutral <see cref="CpuState"/> at the engine's boundary only.
/// </summary>
public sealed class CpuCore(EmulatedMemory memory)
{
    public const int Rax = 0, Rcx = 1, Rdx = 2, Rbx = 3, Rsp = 4, Rbp = 5, Rsi = 6, Rdi = 7;

    public GeneralRegisterFile Gpr;
    public ulong Rip;
    public LazyFlags Flags;
    /// <summary>The RFLAGS bits that are not arithmetic flags (bit 1, TF, IF, DF, IOPL, NT, RF, AC, ID...).</summary>
    public ulong ControlFlags = 0x2;
    public ulong FsBase, GsBase;
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
