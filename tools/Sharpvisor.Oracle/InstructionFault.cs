namespace Sharpvisor.Oracle;

/// <summary>
/// How an instruction faulted on the host. <see cref="Vector"/> is the x86 exception vector when the kernel's trap
/// number was captured, otherwise -1. <see cref="Address"/> is the faulting address the kernel reported
/// (<c>si_addr</c>; CR2 for a #PF), rewritten into canonical window space when it falls inside the window.
/// </summary>
public readonly record struct InstructionFault(FaultKind Kind, int Vector, int Signal, int SignalCode, ulong ErrorCode, ulong Address)
{
    public static InstructionFault None => default;

    public bool IsFault => Kind != FaultKind.None;

    public const int Sigill = 4, Sigtrap = 5, Sigbus = 7, Sigfpe = 8, Sigsegv = 11;

    /// <summary>The fault as seen from the trap number the kernel recorded in the signal frame.</summary>
    public static FaultKind KindFromVector(int vector) => vector switch
    {
        0 => FaultKind.DivideError,
        1 => FaultKind.Debug,
        3 => FaultKind.Breakpoint,
        4 => FaultKind.Overflow,
        5 => FaultKind.BoundRange,
        6 => FaultKind.InvalidOpcode,
        13 => FaultKind.GeneralProtection,
        14 => FaultKind.PageFault,
        16 => FaultKind.X87FloatingPoint,
        17 => FaultKind.AlignmentCheck,
        19 => FaultKind.SimdFloatingPoint,
        _ => FaultKind.WorkerLost,
    };

    /// <summary>The best guess from a termination signal alone.</summary>
    public static FaultKind KindFromSignal(int signal) => signal switch
    {
        Sigfpe => FaultKind.DivideError,
        Sigill => FaultKind.InvalidOpcode,
        Sigsegv => FaultKind.MemoryAccessViolation,
        Sigbus => FaultKind.AlignmentCheck,
        Sigtrap => FaultKind.Breakpoint,
        _ => FaultKind.WorkerLost,
    };

    public override string ToString() => Kind == FaultKind.None
        ? "none"
        : $"{Kind} (vector {Vector}, signal {Signal}, code {SignalCode}, error 0x{ErrorCode:X}, address 0x{Address:X})";
}
