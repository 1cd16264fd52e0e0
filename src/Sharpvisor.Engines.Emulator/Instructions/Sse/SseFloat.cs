using System.Runtime.CompilerServices;

namespace Sharpvisor.Engines.Emulator.Instructions.Sse;

/// <summary>
/// IEEE 754 binary32/binary64 arithmetic as SSE performs it, on raw bit patterns: every MXCSR rounding mode,
/// DAZ and FTZ, SSE's NaN rules (the first operand's NaN wins, signalling NaNs are quieted, invalid operations
/// give the negative "indefinite" QNaN) and the sticky exception flags (returned in <c>flags</c>, MXCSR bit order).
/// Results are computed exactly on integer significands and rounded once, with x86's after-rounding tininess.
/// <paramref name="isDouble"/> parameters select binary64 (bits in the low 64) or binary32 (bits in the low 32).
/// </summary>
public static class SseFloat
{
    public const uint Invalid = 0x01, Denormal = 0x02, DivideByZero = 0x04, Overflow = 0x08, Underflow = 0x10, Precision = 0x20;
    private const uint DenormalsAreZeros = 0x40, FlushToZero = 0x8000;
    private const int RoundNearest = 0, RoundDown = 1, RoundUp = 2, RoundTowardZero = 3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static int FractionBits(bool isDouble) => isDouble ? 52 : 23;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static int Bias(bool isDouble) => isDouble ? 1023 : 127;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static ulong SignBit(bool isDouble) => isDouble ? 1UL << 63 : 1UL << 31;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static ulong ExponentMask(bool isDouble) => isDouble ? 0x7FF0_0000_0000_0000UL : 0x7F80_0000UL;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static ulong FractionMask(bool isDouble) => isDouble ? 0x000F_FFFF_FFFF_FFFFUL : 0x007F_FFFFUL;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static ulong QuietBit(bool isDouble) => isDouble ? 1UL << 51 : 1UL << 22;

    /// <summary>The QNaN an invalid operation returns when no NaN operand supplies one.</summary>
    public static ulong DefaultNaN(bool isDouble) => isDouble ? 0xFFF8_0000_0000_0000UL : 0xFFC0_0000UL;

    public static bool IsNaN(ulong x, bool isDouble) => (x & ExponentMask(isDouble)) == ExponentMask(isDouble) && (x & FractionMask(isDouble)) != 0;
    public static bool IsSignallingNaN(ulong x, bool isDouble) => IsNaN(x, isDouble) && (x & QuietBit(isDouble)) == 0;
    public static bool IsInfinity(ulong x, bool isDouble) => (x & ~SignBit(isDouble)) == ExponentMask(isDouble);
    public static bool IsZero(ulong x, bool isDouble) => (x & ~SignBit(isDouble)) == 0;
    public static bool IsDenormal(ulong x, bool isDouble) => (x & ExponentMask(isDouble)) == 0 && (x & FractionMask(isDouble)) != 0;
    public static bool IsNegative(ulong x, bool isDouble) => (x & SignBit(isDouble)) != 0;
    public static ulong Quiet(ulong x, bool isDouble) => x | QuietBit(isDouble);

    /// <summary>Applies DAZ (a denormal input reads as a zero of the same sign) and notes the denormal-operand flag otherwise.</summary>
    public static ulong Input(ulong x, bool isDouble, uint mxcsr, ref uint flags)
    {
        if (!IsDenormal(x, isDouble)) return x;
        if ((mxcsr & DenormalsAreZeros) != 0) return x & SignBit(isDouble);
        flags |= Denormal;
        return x;
    }

    /// <summary>Shared NaN rule of the two-operand arithmetic: the first NaN operand, quieted; #I for a signalling one.</summary>
    private static bool PropagateNaN(ulong a, ulong b, bool isDouble, ref uint flags, out ulong result)
    {
        bool aNaN = IsNaN(a, isDouble), bNaN = IsNaN(b, isDouble);
        result = 0;
        if (!aNaN && !bNaN) return false;
        if (IsSignallingNaN(a, isDouble) || IsSignallingNaN(b, isDouble)) flags |= Invalid;
        result = Quiet(aNaN ? a : b, isDouble);
        return true;
    }

    /// <summary>The exact value of a finite operand as significand * 2^exponent.</summary>
    private static void Unpack(ulong x, bool isDouble, out UInt128 significand, out int exponent)
    {
        int fractionBits = FractionBits(isDouble);
        ulong biased = (x & ExponentMask(isDouble)) >> fractionBits;
        ulong fraction = x & FractionMask(isDouble);
        if (biased == 0)
        {
            significand = fraction;
            exponent = 1 - Bias(isDouble) - fractionBits;
        }
        else
        {
            significand = fraction | (1UL << fractionBits);
            exponent = (int)biased - Bias(isDouble) - fractionBits;
        }
    }

    public static ulong Add(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags) => AddOrSubtract(a, b, false, isDouble, mxcsr, ref flags);

    public static ulong Subtract(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags) => AddOrSubtract(a, b, true, isDouble, mxcsr, ref flags);

    private static ulong AddOrSubtract(ulong a, ulong b, bool subtract, bool isDouble, uint mxcsr, ref uint flags)
    {
        uint inputFlags = 0;
        a = Input(a, isDouble, mxcsr, ref inputFlags);
        b = Input(b, isDouble, mxcsr, ref inputFlags);
        if (PropagateNaN(a, b, isDouble, ref flags, out ulong nan)) return nan;
        flags |= inputFlags;
        if (subtract) b ^= SignBit(isDouble);
        bool aInfinite = IsInfinity(a, isDouble), bInfinite = IsInfinity(b, isDouble);
        if (aInfinite && bInfinite && ((a ^ b) & SignBit(isDouble)) != 0)
        {
            flags |= Invalid;
            return DefaultNaN(isDouble);
        }
        if (aInfinite) return a;
        if (bInfinite) return b;
        int mode = (int)(mxcsr >> 13) & 3;
        bool aNegative = IsNegative(a, isDouble), bNegative = IsNegative(b, isDouble);
        if (IsZero(a, isDouble) && IsZero(b, isDouble))
            return aNegative == bNegative ? a : mode == RoundDown ? SignBit(isDouble) : 0;

        Unpack(a, isDouble, out UInt128 ma, out int ea);
        Unpack(b, isDouble, out UInt128 mb, out int eb);
        if (ea < eb)
        {
            (ma, mb) = (mb, ma);
            (ea, eb) = (eb, ea);
            (aNegative, bNegative) = (bNegative, aNegative);
        }
        // 64 guard bits below the larger operand; what the alignment shifts out of the smaller one is jammed into
        // the lowest bit, which then lies far below the rounding position.
        const int Guard = 64;
        UInt128 large = ma << Guard;
        UInt128 small = mb << Guard;
        int distance = ea - eb;
        if (distance > 0)
        {
            if (distance >= 127) small = small != 0 ? UInt128.One : UInt128.Zero;
            else
            {
                bool lost = (small & ((UInt128.One << distance) - 1)) != 0;
                small = (small >> distance) | (lost ? UInt128.One : UInt128.Zero);
            }
        }
        UInt128 sum;
        bool negative;
        if (aNegative == bNegative) { sum = large + small; negative = aNegative; }
        else if (large >= small) { sum = large - small; negative = aNegative; }
        else { sum = small - large; negative = bNegative; }
        if (sum == 0) return mode == RoundDown ? SignBit(isDouble) : 0;
        return Round(negative, sum, ea - Guard, isDouble, mxcsr, ref flags);
    }

    public static ulong Multiply(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags)
    {
        uint inputFlags = 0;
        a = Input(a, isDouble, mxcsr, ref inputFlags);
        b = Input(b, isDouble, mxcsr, ref inputFlags);
        if (PropagateNaN(a, b, isDouble, ref flags, out ulong nan)) return nan;
        flags |= inputFlags;
        ulong sign = (a ^ b) & SignBit(isDouble);
        bool aInfinite = IsInfinity(a, isDouble), bInfinite = IsInfinity(b, isDouble);
        bool aZero = IsZero(a, isDouble), bZero = IsZero(b, isDouble);
        if ((aInfinite && bZero) || (bInfinite && aZero))
        {
            flags |= Invalid;
            return DefaultNaN(isDouble);
        }
        if (aInfinite || bInfinite) return sign | ExponentMask(isDouble);
        if (aZero || bZero) return sign;
        Unpack(a, isDouble, out UInt128 ma, out int ea);
        Unpack(b, isDouble, out UInt128 mb, out int eb);
        return Round(sign != 0, ma * mb, ea + eb, isDouble, mxcsr, ref flags);
    }

    public static ulong Divide(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags)
    {
        uint inputFlags = 0;
        a = Input(a, isDouble, mxcsr, ref inputFlags);
        b = Input(b, isDouble, mxcsr, ref inputFlags);
        if (PropagateNaN(a, b, isDouble, ref flags, out ulong nan)) return nan;
        ulong sign = (a ^ b) & SignBit(isDouble);
        bool aInfinite = IsInfinity(a, isDouble), bInfinite = IsInfinity(b, isDouble);
        bool aZero = IsZero(a, isDouble), bZero = IsZero(b, isDouble);
        if ((aInfinite && bInfinite) || (aZero && bZero))
        {
            flags |= Invalid;
            return DefaultNaN(isDouble);
        }
        if (bZero && !aInfinite)
        {
            flags |= DivideByZero; // reported instead of a denormal dividend, as the host does
            return sign | ExponentMask(isDouble);
        }
        flags |= inputFlags;
        if (aInfinite) return sign | ExponentMask(isDouble);
        if (bInfinite || aZero) return sign;
        Unpack(a, isDouble, out UInt128 ma, out int ea);
        Unpack(b, isDouble, out UInt128 mb, out int eb);
        Normalize(ref ma, ref ea, FractionBits(isDouble));
        Normalize(ref mb, ref eb, FractionBits(isDouble));
        const int Extra = 64;
        UInt128 quotient = UInt128.DivRem(ma << Extra, mb).Quotient;
        bool remainder = quotient * mb != ma << Extra;
        if (remainder) quotient |= 1;
        return Round(sign != 0, quotient, ea - eb - Extra, isDouble, mxcsr, ref flags);
    }

    public static ulong SquareRoot(ulong a, bool isDouble, uint mxcsr, ref uint flags)
    {
        uint inputFlags = 0;
        a = Input(a, isDouble, mxcsr, ref inputFlags);
        if (IsNaN(a, isDouble))
        {
            if (IsSignallingNaN(a, isDouble)) flags |= Invalid;
            return Quiet(a, isDouble);
        }
        if (IsZero(a, isDouble)) return a;
        if (IsNegative(a, isDouble))
        {
            flags |= Invalid; // an invalid operation does not also report its denormal operand
            return DefaultNaN(isDouble);
        }
        flags |= inputFlags;
        if (IsInfinity(a, isDouble)) return a;
        Unpack(a, isDouble, out UInt128 m, out int e);
        if ((e & 1) != 0) { m <<= 1; e--; }
        int length = 128 - (int)UInt128.LeadingZeroCount(m);
        int shift = (124 - length) & ~1;
        m <<= shift;
        e -= shift;
        UInt128 root = IntegerSquareRoot(m);
        if (root * root != m) root |= 1;
        return Round(false, root, e / 2, isDouble, mxcsr, ref flags);
    }

    private static UInt128 IntegerSquareRoot(UInt128 n)
    {
        UInt128 r = (UInt128)Math.Sqrt((double)n);
        if (r == 0) r = 1;
        r = (r + n / r) >> 1;
        while (r * r > n) r--;
        while ((r + 1) * (r + 1) <= n) r++;
        return r;
    }

    private static void Normalize(ref UInt128 m, ref int e, int fractionBits)
    {
        int length = 128 - (int)UInt128.LeadingZeroCount(m);
        int shift = fractionBits + 1 - length;
        if (shift <= 0) return;
        m <<= shift;
        e -= shift;
    }

    /// <summary>MIN: the second operand unless the first is strictly smaller (so NaNs and equal zeros give the second).</summary>
    public static ulong Minimum(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags) => MinOrMax(a, b, false, isDouble, mxcsr, ref flags);

    public static ulong Maximum(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags) => MinOrMax(a, b, true, isDouble, mxcsr, ref flags);

    private static ulong MinOrMax(ulong a, ulong b, bool maximum, bool isDouble, uint mxcsr, ref uint flags)
    {
        uint inputFlags = 0;
        a = Input(a, isDouble, mxcsr, ref inputFlags);
        b = Input(b, isDouble, mxcsr, ref inputFlags);
        if (IsNaN(a, isDouble) || IsNaN(b, isDouble))
        {
            flags |= Invalid;
            return b;
        }
        flags |= inputFlags;
        int order = Compare(a, b, isDouble);
        return (maximum ? order > 0 : order < 0) ? a : b;
    }

    /// <summary>-1, 0 or 1 for ordered operands (zeros of either sign are equal); callers rule out NaNs first.</summary>
    public static int Compare(ulong a, ulong b, bool isDouble)
    {
        if (IsZero(a, isDouble) && IsZero(b, isDouble)) return 0;
        bool aNegative = IsNegative(a, isDouble), bNegative = IsNegative(b, isDouble);
        ulong aMagnitude = a & ~SignBit(isDouble), bMagnitude = b & ~SignBit(isDouble);
        if (aNegative != bNegative) return aNegative ? -1 : 1;
        int magnitudeOrder = aMagnitude.CompareTo(bMagnitude);
        return aNegative ? -magnitudeOrder : magnitudeOrder;
    }

    /// <summary>Converts between binary32 and binary64 (NaNs keep sign and payload, quieted; narrowing rounds).</summary>
    public static ulong ConvertFloat(ulong x, bool fromDouble, uint mxcsr, ref uint flags)
    {
        bool toDouble = !fromDouble;
        uint inputFlags = 0;
        x = Input(x, fromDouble, mxcsr, ref inputFlags);
        bool negative = IsNegative(x, fromDouble);
        ulong sign = negative ? SignBit(toDouble) : 0;
        if (IsNaN(x, fromDouble))
        {
            if (IsSignallingNaN(x, fromDouble)) flags |= Invalid;
            ulong fraction = x & FractionMask(fromDouble);
            fraction = fromDouble ? fraction >> 29 : fraction << 29;
            return sign | ExponentMask(toDouble) | QuietBit(toDouble) | fraction;
        }
        flags |= inputFlags;
        if (IsInfinity(x, fromDouble)) return sign | ExponentMask(toDouble);
        if (IsZero(x, fromDouble)) return sign;
        Unpack(x, fromDouble, out UInt128 m, out int e);
        return Round(negative, m, e, toDouble, mxcsr, ref flags);
    }

    /// <summary>A signed integer to floating point, rounded by MXCSR.</summary>
    public static ulong FromInteger(long value, bool isDouble, uint mxcsr, ref uint flags)
    {
        if (value == 0) return 0;
        UInt128 magnitude = value < 0 ? (UInt128)(ulong)(-(value + 1)) + 1 : (UInt128)(ulong)value;
        return Round(value < 0, magnitude, 0, isDouble, mxcsr, ref flags);
    }

    /// <summary>
    /// Floating point to a signed integer of <paramref name="bits"/> (32 or 64), truncating or by MXCSR's mode; NaN,
    /// infinity and out-of-range values give the "integer indefinite" (only the sign bit set) and #I.
    /// </summary>
    public static ulong ToInteger(ulong x, bool isDouble, int bits, bool truncate, uint mxcsr, ref uint flags)
    {
        ulong indefinite = bits == 64 ? 1UL << 63 : 1UL << 31;
        uint ignored = 0;
        x = Input(x, isDouble, mxcsr, ref ignored);
        if (IsNaN(x, isDouble) || IsInfinity(x, isDouble))
        {
            flags |= Invalid;
            return indefinite;
        }
        if (IsZero(x, isDouble)) return 0;
        bool negative = IsNegative(x, isDouble);
        Unpack(x, isDouble, out UInt128 m, out int e);
        int mode = truncate ? RoundTowardZero : (int)(mxcsr >> 13) & 3;
        UInt128 magnitude;
        bool inexact = false;
        if (e >= 0)
        {
            if (e > 64) { flags |= Invalid; return indefinite; }
            magnitude = m << e;
        }
        else
        {
            int shift = -e;
            UInt128 whole = shift >= 128 ? 0 : m >> shift;
            UInt128 rest = shift >= 128 ? m : m - (whole << shift);
            inexact = rest != 0;
            bool increment = mode switch
            {
                RoundNearest => shift < 128 && (rest > (UInt128.One << (shift - 1)) || (rest == (UInt128.One << (shift - 1)) && (whole & 1) != 0)),
                RoundDown => negative && inexact,
                RoundUp => !negative && inexact,
                _ => false,
            };
            magnitude = increment ? whole + 1 : whole;
        }
        UInt128 limit = (UInt128)1 << (bits - 1);
        if (negative ? magnitude > limit : magnitude >= limit)
        {
            flags |= Invalid;
            return indefinite;
        }
        if (inexact) flags |= Precision;
        ulong result = negative ? (ulong)-(long)(ulong)magnitude : (ulong)magnitude;
        return bits == 64 ? result : (uint)result;
    }

    /// <summary>
    /// Rounds significand * 2^exponent (a nonzero exact value, whose lowest bit may be a jammed sticky bit far below
    /// the rounding position) to the format by MXCSR, raising PE, UE (tiny after rounding), OE, and applying FTZ.
    /// </summary>
    public static ulong Round(bool negative, UInt128 significand, int exponent, bool isDouble, uint mxcsr, ref uint flags)
    {
        int precision = FractionBits(isDouble) + 1;
        int bias = Bias(isDouble);
        int minimumExponent = 1 - bias;
        int mode = (int)(mxcsr >> 13) & 3;
        ulong sign = negative ? SignBit(isDouble) : 0;
        int length = 128 - (int)UInt128.LeadingZeroCount(significand);
        int leading = exponent + length - 1;

        bool tiny = false;
        if (leading < minimumExponent)
        {
            // Tininess after rounding: round to full precision with an unbounded exponent and see if it stays below 2^emin.
            UInt128 unbounded = RoundAt(significand, length - precision, negative, mode, out _);
            tiny = leading + (unbounded >> precision != 0 ? 1 : 0) < minimumExponent;
        }
        int shift = leading >= minimumExponent ? length - precision : minimumExponent - precision + 1 - exponent;
        UInt128 rounded = RoundAt(significand, shift, negative, mode, out bool inexact);
        if (leading >= minimumExponent && rounded >> precision != 0)
        {
            rounded >>= 1;
            leading++;
        }
        if (leading > bias)
        {
            flags |= Overflow | Precision;
            bool toInfinity = mode == RoundNearest || (mode == RoundUp && !negative) || (mode == RoundDown && negative);
            return sign | (toInfinity ? ExponentMask(isDouble) : ExponentMask(isDouble) - 1);
        }
        if (tiny)
        {
            if ((mxcsr & FlushToZero) != 0 && (mxcsr & (Underflow << 7)) != 0)
            {
                flags |= Underflow | Precision;
                return sign;
            }
            if (inexact) flags |= Underflow;
        }
        if (inexact) flags |= Precision;
        if (leading < minimumExponent) return sign | (ulong)rounded; // subnormal, or rounded up into the smallest normal
        return sign | ((ulong)(leading + bias - 1) << FractionBits(isDouble)) + (ulong)rounded;
    }

    private static UInt128 RoundAt(UInt128 m, int shift, bool negative, int mode, out bool inexact)
    {
        if (shift <= 0)
        {
            inexact = false;
            return m << -shift;
        }
        if (shift >= 127)
        {
            inexact = m != 0;
            return mode switch
            {
                RoundDown => negative && inexact ? UInt128.One : UInt128.Zero,
                RoundUp => !negative && inexact ? UInt128.One : UInt128.Zero,
                _ => UInt128.Zero,
            };
        }
        UInt128 whole = m >> shift;
        UInt128 rest = m - (whole << shift);
        UInt128 half = UInt128.One << (shift - 1);
        inexact = rest != 0;
        bool increment = mode switch
        {
            RoundNearest => rest > half || (rest == half && (whole & 1) != 0),
            RoundDown => negative && inexact,
            RoundUp => !negative && inexact,
            _ => false,
        };
        return increment ? whole + 1 : whole;
    }
}
