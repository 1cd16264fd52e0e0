using System.Numerics;
using System.Runtime.CompilerServices;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// Exact x87 arithmetic on <see cref="Float80"/>: every operation forms the exact result (or an exact 128-bit prefix
/// plus a sticky bit) and rounds it once, under the rounding and precision control of a <see cref="RoundingContext"/>,
/// raising the IEEE exceptions the SDM lists (invalid, denormal operand, zero-divide, overflow, underflow, precision).
/// Tininess is detected after rounding with an unbounded exponent; a masked underflow is flagged only when the result
/// is also inexact. Masked responses: the QNaN indefinite for invalid operations, infinity or the largest finite value
/// (by rounding mode) on overflow, denormals on underflow. For unmasked overflow/underflow the caller receives the
/// rounded result with its exponent wrapped by 24576 (the SDM's bias adjustment for register destinations).
/// Allocation-free: 128-bit integers only.
/// </summary>
public static class ExtendedArithmetic
{
    /// <summary>Exponent range of the x87 register format: normals 2^-16382..2^16383, denormal steps of 2^-16445.</summary>
    public const int ExtendedMinExponent = -16382, ExtendedMaxExponent = 16383, ExtendedLsbMin = -16445;
    public const int BiasAdjust = 24576;

    /// <summary>How <see cref="Round"/> ended.</summary>
    public enum RoundStatus : byte { Finite, Infinity, UnmaskedOverflow, UnmaskedUnderflow }

    /// <summary>A finite non-zero value (-1)^Sign * Significand * 2^(Exponent - 63), Significand normalized (bit 63 set).</summary>
    public readonly record struct Unpacked(bool Sign, int Exponent, ulong Significand);

    /// <summary>Unpacks a normal or denormal (pseudo-denormals included) register value.</summary>
    public static Unpacked Unpack(Float80 value)
    {
        int biased = value.BiasedExponent;
        int exponent = (biased == 0 ? 1 : biased) - Float80.Bias;
        ulong significand = value.Significand;
        int shift = BitOperations.LeadingZeroCount(significand);
        return new Unpacked(value.Sign, exponent - shift, significand << shift);
    }

    // ---- rounding ----------------------------------------------------------------------------------------------

    /// <summary>
    /// Drops the low <paramref name="shift"/> bits of <paramref name="m"/> (with <paramref name="sticky"/> standing
    /// for further non-zero bits below it) and rounds by <paramref name="rounding"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static UInt128 RoundShift(UInt128 m, bool sticky, int shift, bool sign, int rounding, out bool inexact, out bool roundedUp)
    {
        UInt128 kept;
        bool half, rest;
        if (shift <= 0)
        {
            kept = m;
            half = false;
            rest = sticky;
        }
        else if (shift > 128)
        {
            kept = 0;
            half = false;
            rest = m != 0 || sticky;
        }
        else if (shift == 128)
        {
            kept = 0;
            half = (m >> 127) != 0;
            rest = (m << 1) != 0 || sticky;
        }
        else
        {
            kept = m >> shift;
            half = ((m >> (shift - 1)) & 1) != 0;
            rest = shift > 1 && (m & ((UInt128.One << (shift - 1)) - 1)) != 0 || sticky;
        }
        inexact = half || rest;
        roundedUp = rounding switch
        {
            RoundingContext.ToNearest => half && (rest || (kept & 1) != 0),
            RoundingContext.Down => inexact && sign,
            RoundingContext.Up => inexact && !sign,
            _ => false,
        };
        return roundedUp ? kept + 1 : kept;
    }

    /// <summary>
    /// Rounds (-1)^sign * m * 2^(e - 127) (m has bit 127 set; <paramref name="sticky"/>: non-zero bits below m) to
    /// <paramref name="precision"/> significand bits, normal exponents <paramref name="minExponent"/>..<paramref name="maxExponent"/>
    /// and denormal steps of 2^<paramref name="lsbMin"/> (a register result under precision control keeps only the top
    /// bits of its significand field even when denormal, so its step is coarser than 2^-16445). The result is <paramref name="integer"/> * 2^<paramref name="lsbExponent"/>
    /// unless the status says infinity. Raises O, U, P and sets C1 (rounded up) in <paramref name="context"/>.
    /// </summary>
    public static RoundStatus Round(ref RoundingContext context, bool sign, int e, UInt128 m, bool sticky, int precision,
        int minExponent, int maxExponent, int lsbMin, out ulong integer, out int lsbExponent)
    {
        UInt128 r = RoundShift(m, sticky, 128 - precision, sign, context.Rounding, out bool inexact, out bool up);
        int exponent = e;
        if ((r >> precision) != 0)
        {
            r >>= 1;
            exponent++;
        }
        if (exponent > maxExponent)
        {
            context.Exceptions |= FpuStatus.Overflow;
            if (!context.IsMasked(FpuStatus.Overflow))
            {
                if (inexact) { context.Exceptions |= FpuStatus.Precision; context.C1 = up; }
                integer = (ulong)r;
                lsbExponent = exponent - precision + 1;
                return RoundStatus.UnmaskedOverflow;
            }
            context.Exceptions |= FpuStatus.Precision;
            int rc = context.Rounding;
            bool toInfinity = rc == RoundingContext.ToNearest || (rc == RoundingContext.Down && sign) || (rc == RoundingContext.Up && !sign);
            context.C1 = toInfinity;
            integer = precision == 64 ? ulong.MaxValue : (1UL << precision) - 1;
            lsbExponent = maxExponent - precision + 1;
            return toInfinity ? RoundStatus.Infinity : RoundStatus.Finite;
        }
        if (exponent < minExponent)
        {
            if (!context.IsMasked(FpuStatus.Underflow))
            {
                context.Exceptions |= FpuStatus.Underflow;
                if (inexact) { context.Exceptions |= FpuStatus.Precision; context.C1 = up; }
                integer = (ulong)r;
                lsbExponent = exponent - precision + 1;
                return RoundStatus.UnmaskedUnderflow;
            }
            // Denormalize: round again at the format's denormal last place (with reduced precision control only the
            // top bits of the significand field may be set, so the caller passes a coarser place).
            int lsb = lsbMin;
            UInt128 d = RoundShift(m, sticky, lsb - (e - 127), sign, context.Rounding, out bool denormalInexact, out bool denormalUp);
            if (denormalInexact)
            {
                context.Exceptions |= FpuStatus.Underflow | FpuStatus.Precision;
                context.C1 = denormalUp;
            }
            integer = (ulong)d;
            lsbExponent = lsb;
            return RoundStatus.Finite;
        }
        if (inexact) { context.Exceptions |= FpuStatus.Precision; context.C1 = up; }
        integer = (ulong)r;
        lsbExponent = exponent - precision + 1;
        return RoundStatus.Finite;
    }

    /// <summary>Packs integer * 2^lsbExponent (exactly representable) as a register value, denormal when below 2^-16382.</summary>
    public static Float80 PackExtended(bool sign, ulong integer, int lsbExponent)
    {
        if (integer == 0) return Float80.Zero(sign);
        int msb = 63 - BitOperations.LeadingZeroCount(integer);
        int exponent = lsbExponent + msb;
        ushort signBit = (ushort)(sign ? 0x8000 : 0);
        if (exponent >= ExtendedMinExponent)
            return new Float80((ushort)(signBit | (exponent + Float80.Bias)), integer << (63 - msb));
        return new Float80(signBit, integer << (lsbExponent - ExtendedLsbMin));
    }

    /// <summary>Rounds to a register value under the context's precision control (arithmetic results).</summary>
    public static Float80 RoundToExtended(ref RoundingContext context, bool sign, int e, UInt128 m, bool sticky) =>
        RoundToExtended(ref context, sign, e, m, sticky, context.Precision);

    public static Float80 RoundToExtended(ref RoundingContext context, bool sign, int e, UInt128 m, bool sticky, int precision)
    {
        RoundStatus status = Round(ref context, sign, e, m, sticky, precision, ExtendedMinExponent, ExtendedMaxExponent,
            ExtendedLsbMin + 64 - precision, out ulong integer, out int lsb);
        switch (status)
        {
            case RoundStatus.Infinity:
                return Float80.Infinity(sign);
            case RoundStatus.UnmaskedOverflow:
            case RoundStatus.UnmaskedUnderflow:
            {
                int msb = 63 - BitOperations.LeadingZeroCount(integer);
                int biased = lsb + msb + Float80.Bias + (status == RoundStatus.UnmaskedOverflow ? -BiasAdjust : BiasAdjust);
                return new Float80((ushort)((sign ? 0x8000 : 0) | (biased & 0x7FFF)), integer << (63 - msb));
            }
            default:
                return PackExtended(sign, integer, lsb);
        }
    }

    // ---- special operands --------------------------------------------------------------------------------------

    /// <summary>
    /// The NaN a two-operand instruction delivers (SDM table 4-7, x87 column): a QNaN over an SNaN, otherwise the
    /// larger significand, quieted. Raises invalid for an SNaN. Call only when at least one operand is a NaN.
    /// </summary>
    public static Float80 PropagateNaN(ref RoundingContext context, Float80 a, Float80 b)
    {
        X87Class ca = a.Classify(), cb = b.Classify();
        if (ca == X87Class.SignalingNaN || cb == X87Class.SignalingNaN) context.Exceptions |= FpuStatus.Invalid;
        bool aNaN = ca is X87Class.QuietNaN or X87Class.SignalingNaN, bNaN = cb is X87Class.QuietNaN or X87Class.SignalingNaN;
        if (!bNaN) return a.Quieted;
        if (!aNaN) return b.Quieted;
        if (ca == X87Class.QuietNaN && cb == X87Class.SignalingNaN) return a;
        if (cb == X87Class.QuietNaN && ca == X87Class.SignalingNaN) return b;
        ulong sa = a.Significand | Float80.QuietBit, sb = b.Significand | Float80.QuietBit;
        if (sa != sb) return (sa > sb ? a : b).Quieted;
        return (a.Sign ? b : a).Quieted; // equal significands: the positive one
    }

    /// <summary>
    /// Handles the operand checks every two-operand arithmetic instruction shares: unsupported encodings and NaNs
    /// (true, with the result in <paramref name="result"/>), and the denormal-operand exception.
    /// </summary>
    private static bool CheckOperands(ref RoundingContext context, Float80 a, Float80 b, X87Class ca, X87Class cb, out Float80 result)
    {
        if (ca == X87Class.Unsupported || cb == X87Class.Unsupported)
        {
            context.Exceptions |= FpuStatus.Invalid;
            result = Float80.Indefinite;
            return true;
        }
        if (ca is X87Class.QuietNaN or X87Class.SignalingNaN || cb is X87Class.QuietNaN or X87Class.SignalingNaN)
        {
            result = PropagateNaN(ref context, a, b);
            return true;
        }
        result = default;
        return false;
    }

    private static Float80 InvalidResult(ref RoundingContext context)
    {
        context.Exceptions |= FpuStatus.Invalid;
        return Float80.Indefinite;
    }

    /// <summary>Sets D when an operand is denormal; true when that exception is unmasked (the operation stops).</summary>
    private static bool DenormalStops(ref RoundingContext context, bool denormal)
    {
        if (!denormal) return false;
        context.Exceptions |= FpuStatus.Denormal;
        return !context.IsMasked(FpuStatus.Denormal);
    }

    // ---- operations --------------------------------------------------------------------------------------------

    /// <summary>a + b, or a - b when <paramref name="subtract"/>. <paramref name="extraDenormal"/>: an operand came from a denormal in memory.</summary>
    public static Float80 Add(ref RoundingContext context, Float80 a, Float80 b, bool subtract, bool extraDenormal = false)
    {
        X87Class ca = a.Classify(), cb = b.Classify();
        if (CheckOperands(ref context, a, b, ca, cb, out Float80 special)) return special;
        if (subtract) b = b.Negated;
        if (ca == X87Class.Infinity || cb == X87Class.Infinity)
        {
            if (ca == X87Class.Infinity && cb == X87Class.Infinity && a.Sign != b.Sign) return InvalidResult(ref context);
            if (DenormalStops(ref context, extraDenormal || ca == X87Class.Denormal || cb == X87Class.Denormal)) return default;
            return ca == X87Class.Infinity ? a : b;
        }
        if (DenormalStops(ref context, extraDenormal || ca == X87Class.Denormal || cb == X87Class.Denormal)) return default;
        if (ca == X87Class.Zero && cb == X87Class.Zero)
            return Float80.Zero(a.Sign == b.Sign ? a.Sign : context.Rounding == RoundingContext.Down);
        if (cb == X87Class.Zero) return Reround(ref context, a);
        if (ca == X87Class.Zero) return Reround(ref context, b);

        Unpacked x = Unpack(a), y = Unpack(b);
        if (x.Exponent < y.Exponent || (x.Exponent == y.Exponent && x.Significand < y.Significand)) (x, y) = (y, x);
        UInt128 big = (UInt128)x.Significand << 64, small = (UInt128)y.Significand << 64;
        int distance = x.Exponent - y.Exponent;
        if (distance >= 128) small = 1; // only a sticky bit is left
        else if (distance > 0)
        {
            bool lost = (small & ((UInt128.One << distance) - 1)) != 0;
            small = (small >> distance) | (lost ? UInt128.One : UInt128.Zero); // jam the lost bits into the lowest place
        }
        int exponent = x.Exponent;
        UInt128 sum;
        if (x.Sign == y.Sign)
        {
            sum = big + small;
            if (sum < big)
            {
                sum = (sum >> 1) | (sum & 1) | (UInt128.One << 127);
                exponent++;
            }
        }
        else
        {
            sum = big - small;
            if (sum == 0) return Float80.Zero(context.Rounding == RoundingContext.Down);
            int shift = LeadingZeros(sum);
            sum <<= shift;
            exponent -= shift;
        }
        return RoundToExtended(ref context, x.Sign, exponent, sum, false);
    }

    /// <summary>A finite non-zero operand passed through rounding (x + 0): precision control and denormal handling apply.</summary>
    private static Float80 Reround(ref RoundingContext context, Float80 value)
    {
        Unpacked u = Unpack(value);
        return RoundToExtended(ref context, u.Sign, u.Exponent, (UInt128)u.Significand << 64, false);
    }

    public static Float80 Multiply(ref RoundingContext context, Float80 a, Float80 b, bool extraDenormal = false)
    {
        X87Class ca = a.Classify(), cb = b.Classify();
        if (CheckOperands(ref context, a, b, ca, cb, out Float80 special)) return special;
        bool sign = a.Sign != b.Sign;
        if ((ca == X87Class.Infinity && cb == X87Class.Zero) || (ca == X87Class.Zero && cb == X87Class.Infinity)) return InvalidResult(ref context);
        if (DenormalStops(ref context, extraDenormal || ca == X87Class.Denormal || cb == X87Class.Denormal)) return default;
        if (ca == X87Class.Infinity || cb == X87Class.Infinity) return Float80.Infinity(sign);
        if (ca == X87Class.Zero || cb == X87Class.Zero) return Float80.Zero(sign);
        Unpacked x = Unpack(a), y = Unpack(b);
        UInt128 product = (UInt128)x.Significand * y.Significand;
        int exponent = x.Exponent + y.Exponent;
        if ((product >> 127) != 0) exponent++;
        else product <<= 1;
        return RoundToExtended(ref context, sign, exponent, product, false);
    }

    public static Float80 Divide(ref RoundingContext context, Float80 a, Float80 b, bool extraDenormal = false)
    {
        X87Class ca = a.Classify(), cb = b.Classify();
        if (CheckOperands(ref context, a, b, ca, cb, out Float80 special)) return special;
        bool sign = a.Sign != b.Sign;
        if ((ca == X87Class.Infinity && cb == X87Class.Infinity) || (ca == X87Class.Zero && cb == X87Class.Zero)) return InvalidResult(ref context);
        if (cb == X87Class.Zero && ca != X87Class.Infinity)
        {
            // Division of a finite value by zero: zero-divide only (a denormal dividend does not also raise D).
            context.Exceptions |= FpuStatus.ZeroDivide;
            return Float80.Infinity(sign);
        }
        if (DenormalStops(ref context, extraDenormal || ca == X87Class.Denormal || cb == X87Class.Denormal)) return default;
        if (ca == X87Class.Infinity) return Float80.Infinity(sign);
        if (cb == X87Class.Infinity || ca == X87Class.Zero) return Float80.Zero(sign);
        Unpacked x = Unpack(a), y = Unpack(b);
        // Two 64-bit quotient digits: q in [2^63, 2^64) by pre-scaling the dividend, then 64 more bits from the remainder.
        bool dividendLarger = x.Significand >= y.Significand;
        UInt128 numerator = (UInt128)x.Significand << (dividendLarger ? 63 : 64);
        UInt128 high = numerator / y.Significand, remainder = numerator - high * y.Significand;
        UInt128 next = remainder << 64;
        UInt128 low = next / y.Significand, lastRemainder = next - low * y.Significand;
        UInt128 quotient = (high << 64) | low;
        int exponent = x.Exponent - y.Exponent - (dividendLarger ? 0 : 1);
        return RoundToExtended(ref context, sign, exponent, quotient, lastRemainder != 0);
    }

    /// <summary>Square root (FSQRT): exact 128-bit integer root with a sticky remainder.</summary>
    public static Float80 SquareRoot(ref RoundingContext context, Float80 a)
    {
        X87Class ca = a.Classify();
        if (ca == X87Class.Unsupported) return InvalidResult(ref context);
        if (ca is X87Class.QuietNaN or X87Class.SignalingNaN)
        {
            if (ca == X87Class.SignalingNaN) context.Exceptions |= FpuStatus.Invalid;
            return a.Quieted;
        }
        if (ca == X87Class.Zero) return a;
        if (a.Sign) return InvalidResult(ref context); // negative non-zero, infinities included
        if (DenormalStops(ref context, ca == X87Class.Denormal)) return default;
        if (ca == X87Class.Infinity) return a;
        Unpacked x = Unpack(a);
        // value = s * 2^k with k = e - 63. Radicand R = s * 2^t (t = 63 or 64, so k - t is even, R < 2^128):
        // sqrt(value) = sqrt(R) * 2^((k - t) / 2). The integer root of R has 64 bits; 60 more come from the digit
        // recurrence on appended zero pairs (the remainder stays below 2^128), and the final remainder is the sticky bit.
        int k = x.Exponent - 63;
        int t = ((k - 63) & 1) == 0 ? 63 : 64;
        UInt128 radicand = (UInt128)x.Significand << t;
        UInt128 root = IntegerSquareRoot(radicand);
        UInt128 remainder = radicand - root * root;
        const int extraBits = 60;
        for (int step = 0; step < extraBits; step++)
        {
            remainder <<= 2;
            UInt128 candidate = (root << 2) | 1;
            root <<= 1;
            if (remainder >= candidate)
            {
                remainder -= candidate;
                root |= 1;
            }
        }
        int lz = LeadingZeros(root);
        root <<= lz;
        int resultExponent = (k - t - 2 * extraBits) / 2 + 127 - lz;
        return RoundToExtended(ref context, false, resultExponent, root, remainder != 0);
    }

    private static UInt128 IntegerSquareRoot(UInt128 n)
    {
        if (n == 0) return 0;
        // Newton iteration from an over-estimate converges downwards to floor(sqrt(n)).
        int bits = 128 - LeadingZeros(n);
        UInt128 x = UInt128.One << ((bits + 1) / 2);
        while (true)
        {
            UInt128 y = (x + n / x) >> 1;
            if (y >= x) return x;
            x = y;
        }
    }

    /// <summary>FRNDINT: rounds to an integral value by RC (precision control does not apply).</summary>
    public static Float80 RoundToIntegral(ref RoundingContext context, Float80 a)
    {
        X87Class ca = a.Classify();
        if (ca == X87Class.Unsupported) return InvalidResult(ref context);
        if (ca is X87Class.QuietNaN or X87Class.SignalingNaN)
        {
            if (ca == X87Class.SignalingNaN) context.Exceptions |= FpuStatus.Invalid;
            return a.Quieted;
        }
        if (ca is X87Class.Zero or X87Class.Infinity) return a;
        if (DenormalStops(ref context, ca == X87Class.Denormal)) return default;
        Unpacked x = Unpack(a);
        if (x.Exponent >= 63) return a;
        UInt128 integer = RoundShift((UInt128)x.Significand << 64, false, 127 - x.Exponent, x.Sign, context.Rounding, out bool inexact, out bool up);
        if (inexact) { context.Exceptions |= FpuStatus.Precision; context.C1 = up; }
        if (integer == 0) return Float80.Zero(x.Sign);
        if ((integer >> 64) != 0) return PackExtended(x.Sign, (ulong)(integer >> 1), 1); // 2^64 exactly
        return PackExtended(x.Sign, (ulong)integer, 0);
    }

    /// <summary>
    /// FIST/FISTP: the value rounded by RC to a signed integer of <paramref name="bits"/> bits. Out of range, NaN,
    /// infinity or unsupported: invalid, and the integer indefinite (the most negative value) when masked.
    /// </summary>
    public static long ToInteger(ref RoundingContext context, Float80 a, int bits)
    {
        long indefinite = long.MinValue >> (64 - bits);
        X87Class ca = a.Classify();
        if (ca is X87Class.Unsupported or X87Class.QuietNaN or X87Class.SignalingNaN or X87Class.Infinity)
        {
            context.Exceptions |= FpuStatus.Invalid;
            return indefinite;
        }
        if (ca == X87Class.Zero) return 0;
        Unpacked x = Unpack(a);
        UInt128 magnitude;
        bool inexact = false, up = false;
        if (x.Exponent >= 64) magnitude = UInt128.MaxValue; // certainly out of range
        else magnitude = RoundShift((UInt128)x.Significand << 64, false, 127 - x.Exponent, x.Sign, context.Rounding, out inexact, out up);
        UInt128 limit = x.Sign ? UInt128.One << (bits - 1) : (UInt128.One << (bits - 1)) - 1;
        if (magnitude > limit)
        {
            context.Exceptions |= FpuStatus.Invalid;
            return indefinite;
        }
        if (inexact) { context.Exceptions |= FpuStatus.Precision; context.C1 = up; }
        ulong value = (ulong)magnitude;
        return x.Sign ? (long)(0 - value) : (long)value;
    }

    /// <summary>FILD: every 16/32/64-bit integer is exact in the register format.</summary>
    public static Float80 FromInteger(long value)
    {
        if (value == 0) return Float80.Zero(false);
        bool sign = value < 0;
        ulong magnitude = sign ? 0 - (ulong)value : (ulong)value;
        return PackExtended(sign, magnitude, 0);
    }

    /// <summary>
    /// Widens a binary32/binary64 value exactly (FLD m32fp/m64fp and the memory operands of arithmetic). SNaNs stay
    /// signaling here so the instruction decides about the invalid exception; <paramref name="denormal"/> reports a
    /// denormal source (the denormal-operand exception), which becomes a normal register value.
    /// </summary>
    public static Float80 FromBinary(ulong bits, int fractionBits, int exponentBits, out bool denormal)
    {
        denormal = false;
        int bias = (1 << (exponentBits - 1)) - 1, maxExponent = (1 << exponentBits) - 1;
        bool sign = ((bits >> (fractionBits + exponentBits)) & 1) != 0;
        int exponent = (int)((bits >> fractionBits) & (ulong)maxExponent);
        ulong fraction = bits & ((1UL << fractionBits) - 1);
        ushort signBit = (ushort)(sign ? 0x8000 : 0);
        if (exponent == maxExponent)
            return new Float80((ushort)(signBit | 0x7FFF), Float80.IntegerBit | (fraction << (63 - fractionBits)));
        if (exponent == 0)
        {
            if (fraction == 0) return Float80.Zero(sign);
            denormal = true;
            return PackExtended(sign, fraction, 1 - bias - fractionBits);
        }
        return new Float80((ushort)(signBit | (exponent - bias + Float80.Bias)), Float80.IntegerBit | (fraction << (63 - fractionBits)));
    }

    /// <summary>
    /// Narrows a register value to binary32/binary64 (FST m32fp/m64fp) by RC; precision control does not apply.
    /// <paramref name="store"/> is false when an unmasked overflow or underflow leaves memory unchanged.
    /// </summary>
    public static ulong ToBinary(ref RoundingContext context, Float80 a, int fractionBits, int exponentBits, out bool store)
    {
        store = true;
        int bias = (1 << (exponentBits - 1)) - 1, maxExponent = (1 << exponentBits) - 1;
        ulong signBit = a.Sign ? 1UL << (fractionBits + exponentBits) : 0;
        ulong infinity = (ulong)maxExponent << fractionBits;
        X87Class ca = a.Classify();
        switch (ca)
        {
            case X87Class.Zero:
                return signBit;
            case X87Class.Infinity:
                return signBit | infinity;
            case X87Class.Unsupported:
                context.Exceptions |= FpuStatus.Invalid;
                return (1UL << (fractionBits + exponentBits)) | infinity | (1UL << (fractionBits - 1));
            case X87Class.QuietNaN:
            case X87Class.SignalingNaN:
                if (ca == X87Class.SignalingNaN) context.Exceptions |= FpuStatus.Invalid;
                return signBit | infinity | ((a.Significand << 1) >> (64 - fractionBits)) | (1UL << (fractionBits - 1));
        }
        Unpacked x = Unpack(a);
        int precision = fractionBits + 1;
        RoundStatus status = Round(ref context, x.Sign, x.Exponent, (UInt128)x.Significand << 64, false, precision,
            1 - bias, bias, 1 - bias - fractionBits, out ulong integer, out int lsb);
        if (status is RoundStatus.UnmaskedOverflow or RoundStatus.UnmaskedUnderflow)
        {
            // Nothing is stored, so nothing was rounded: only O or U is flagged.
            context.Exceptions &= ~FpuStatus.Precision;
            context.C1 = false;
            store = false;
            return 0;
        }
        if (status == RoundStatus.Infinity) return signBit | infinity;
        if (integer == 0) return signBit;
        int msb = 63 - BitOperations.LeadingZeroCount(integer);
        int exponent = lsb + msb;
        if (exponent >= 1 - bias)
            return signBit | ((ulong)(exponent + bias) << fractionBits) | ((integer << (fractionBits - msb)) & ((1UL << fractionBits) - 1));
        return signBit | (integer << (lsb - (1 - bias - fractionBits)));
    }

    /// <summary>The order of two operands, as FCOM/FUCOM/FCOMI report it.</summary>
    public enum Order : byte { Less, Equal, Greater, Unordered }

    /// <summary>
    /// Compares a with b. NaN operands are unordered and invalid for ordered compares (FCOM), for unordered compares
    /// (FUCOM) only when signaling; unsupported encodings are always invalid.
    /// </summary>
    public static Order Compare(ref RoundingContext context, Float80 a, Float80 b, bool quiet, bool extraDenormal = false)
    {
        X87Class ca = a.Classify(), cb = b.Classify();
        if (ca == X87Class.Unsupported || cb == X87Class.Unsupported)
        {
            context.Exceptions |= FpuStatus.Invalid;
            return Order.Unordered;
        }
        bool aNaN = ca is X87Class.QuietNaN or X87Class.SignalingNaN, bNaN = cb is X87Class.QuietNaN or X87Class.SignalingNaN;
        if (aNaN || bNaN)
        {
            if (!quiet || ca == X87Class.SignalingNaN || cb == X87Class.SignalingNaN) context.Exceptions |= FpuStatus.Invalid;
            return Order.Unordered;
        }
        if (extraDenormal || ca == X87Class.Denormal || cb == X87Class.Denormal) context.Exceptions |= FpuStatus.Denormal;
        int sa = SignOf(a, ca), sb = SignOf(b, cb);
        if (sa != sb) return sa < sb ? Order.Less : Order.Greater;
        if (sa == 0) return Order.Equal;
        int magnitude = CompareMagnitude(a, ca, b, cb);
        if (sa < 0) magnitude = -magnitude;
        return magnitude < 0 ? Order.Less : magnitude > 0 ? Order.Greater : Order.Equal;
    }

    private static int SignOf(Float80 value, X87Class cls) => cls == X87Class.Zero ? 0 : value.Sign ? -1 : 1;

    private static int CompareMagnitude(Float80 a, X87Class ca, Float80 b, X87Class cb)
    {
        if (ca == X87Class.Infinity) return cb == X87Class.Infinity ? 0 : 1;
        if (cb == X87Class.Infinity) return -1;
        Unpacked x = Unpack(a), y = Unpack(b);
        if (x.Exponent != y.Exponent) return x.Exponent < y.Exponent ? -1 : 1;
        return x.Significand.CompareTo(y.Significand);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LeadingZeros(UInt128 value) => (int)UInt128.LeadingZeroCount(value);
}
