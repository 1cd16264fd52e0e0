namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// An x86 exception raised by guest code (#DE, #UD, #GP, #PF...). Thrown out of an instruction handler and caught
/// by the interpreter loop, which restores RIP to the faulting instruction; exceptions cost microseconds, which is
/// fine for faults, never used for normal control flow.
/// </summary>
public sealed class GuestFault(byte vector, uint? errorCode = null, ulong faultAddress = 0) : Exception(Describe(vector, errorCode))
{
    private bool _softwareInterrupt;

    public const byte DivideError = 0, Debug = 1, Breakpoint = 3, Overflow = 4, BoundRange = 5, InvalidOpcode = 6,
        NonMaskableInterrupt = 2, DeviceNotAvailable = 7, DoubleFault = 8, InvalidTss = 10, SegmentNotPresent = 11, StackFault = 12,
        GeneralProtection = 13, PageFault = 14, FloatingPoint = 16, AlignmentCheck = 17, SimdFloatingPoint = 19;

    public byte Vector { get; } = vector;
    public uint? ErrorCode { get; } = errorCode;
    /// <summary>
    /// A trap is reported after its instruction completes (RIP names the next instruction): #BP from INT3 and #OF
    /// from INTO are always traps; every other vector raised by a handler is a fault.
    /// </summary>
    public bool IsTrap => _softwareInterrupt || Vector is Breakpoint or Overflow;

    /// <summary>INT n, INT1, INT3 or INTO outside system mode: a trap (RIP after the instruction) the caller sees as a fault stop.</summary>
    public bool IsSoftwareInterrupt => _softwareInterrupt;

    /// <summary>A software interrupt reported to the caller when exceptions are not delivered through the IDT.</summary>
    public static GuestFault SoftwareInterrupt(byte vector) => new(vector) { _softwareInterrupt = true };
    /// <summary>CR2 for a page fault.</summary>
    public ulong FaultAddress { get; } = faultAddress;

    public static string Name(byte vector) => vector switch
    {
        DivideError => "#DE", Debug => "#DB", NonMaskableInterrupt => "NMI", Breakpoint => "#BP", Overflow => "#OF", BoundRange => "#BR",
        InvalidOpcode => "#UD", DeviceNotAvailable => "#NM", DoubleFault => "#DF", InvalidTss => "#TS",
        SegmentNotPresent => "#NP", StackFault => "#SS", GeneralProtection => "#GP", PageFault => "#PF",
        FloatingPoint => "#MF", AlignmentCheck => "#AC", SimdFloatingPoint => "#XM", _ => $"vector {vector}",
    };

    private static string Describe(byte vector, uint? errorCode) =>
        errorCode is { } e ? $"{Name(vector)} (error code 0x{e:x})" : Name(vector);
}
