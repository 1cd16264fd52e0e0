namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// The control-word settings one x87 operation runs under, and the exceptions it raises: filled from FCW, passed by
/// reference through the arithmetic, then committed to FSW by <see cref="X87Core.Commit"/>.
/// </summary>
public struct RoundingContext
{
    public const int ToNearest = 0, Down = 1, Up = 2, TowardZero = 3;

    /// <summary>RC: 0 nearest-even, 1 toward -infinity, 2 toward +infinity, 3 toward zero.</summary>
    public int Rounding;
    /// <summary>Significand bits for FADD/FSUB/FMUL/FDIV/FSQRT results: 24, 53 or 64 (precision control).</summary>
    public int Precision;
    /// <summary>FCW bits 0-5: a set bit masks that exception.</summary>
    public int Masks;
    /// <summary>Exceptions raised so far (FSW bits 0-6).</summary>
    public int Exceptions;
    /// <summary>The value C1 takes: the round-up indication of an inexact result, 1 on stack overflow.</summary>
    public bool C1;

    public RoundingContext(ushort controlWord)
    {
        Rounding = (controlWord >> 10) & 3;
        // PC 01 is reserved; it rounds like extended precision here.
        Precision = ((controlWord >> 8) & 3) switch { 0 => 24, 2 => 53, _ => 64 };
        Masks = controlWord & FpuStatus.ExceptionMask;
        Exceptions = 0;
        C1 = false;
    }

    /// <summary>Whether an exception that suppresses the result (invalid, denormal, zero-divide) is raised and unmasked.</summary>
    public readonly bool Suppressed => (Exceptions & ~Masks & (FpuStatus.Invalid | FpuStatus.Denormal | FpuStatus.ZeroDivide)) != 0;

    public readonly bool IsMasked(int exception) => (Masks & exception) != 0;
}
