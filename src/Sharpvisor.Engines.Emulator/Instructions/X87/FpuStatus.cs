namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>Bits of the x87 status word (FSW); the low six are also the exception masks of the control word.</summary>
public static class FpuStatus
{
    public const int Invalid = 0x01, Denormal = 0x02, ZeroDivide = 0x04, Overflow = 0x08, Underflow = 0x10, Precision = 0x20;
    public const int ExceptionMask = 0x3F;
    public const int StackFault = 0x40, ErrorSummary = 0x80;
    public const int C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, Busy = 0x8000;
    public const int ConditionMask = C0 | C1 | C2 | C3;
    public const int TopShift = 11, TopMask = 7 << TopShift;
}
