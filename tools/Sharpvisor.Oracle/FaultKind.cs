namespace Sharpvisor.Oracle;

/// <summary>
/// The exception an instruction raised. Exact vectors come from the worker's native fault handler (the kernel's
/// trap number); when only the process's termination signal is known, SIGSEGV maps to
/// <see cref="MemoryAccessViolation"/> (#GP or #PF, the signal alone cannot tell), SIGFPE to
/// <see cref="DivideError"/>, SIGILL to <see cref="InvalidOpcode"/>, SIGBUS to <see cref="AlignmentCheck"/> and
/// SIGTRAP to <see cref="Breakpoint"/>.
/// </summary>
public enum FaultKind : byte
{
    None = 0,
    DivideError = 1,        // #DE, vector 0
    Debug = 2,              // #DB, vector 1
    Breakpoint = 3,         // #BP, vector 3
    Overflow = 4,           // #OF, vector 4
    BoundRange = 5,         // #BR, vector 5
    InvalidOpcode = 6,      // #UD, vector 6
    GeneralProtection = 7,  // #GP, vector 13
    PageFault = 8,          // #PF, vector 14
    X87FloatingPoint = 9,   // #MF, vector 16
    AlignmentCheck = 10,    // #AC, vector 17
    SimdFloatingPoint = 11, // #XM, vector 19
    /// <summary>SIGSEGV without a trap number: a #GP or a #PF.</summary>
    MemoryAccessViolation = 12,
    /// <summary>The worker died from a signal that is not an instruction exception (e.g. SIGKILL), or exited.</summary>
    WorkerLost = 13,
}
