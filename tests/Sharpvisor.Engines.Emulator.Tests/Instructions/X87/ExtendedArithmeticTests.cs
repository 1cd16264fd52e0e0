using System.Numerics;
using Sharpvisor.Engines.Emulator.Instructions.X87;

namespace Sharpvisor.Engines.Emulator.Tests.Instructions.X87;

/// <summary>
/// The 80-bit arithmetic against exact rational arithmetic (BigInteger), independently of any host CPU: random normal
/// operands whose results stay in the normal range, every rounding mode, every precision control setting. The
/// reference rounds num/den to p bits by comparing twice the remainder with the denominator.
/// </summary>
public class ExtendedArithmeticTests
{
    private static Float80 RandomNormal(Random random, int exponentSpread = 200)
    {
        ulong significand = (ulong)random.NextInt64() | (1UL << 63) | ((ulong)random.Next(2) << 62);
        if (random.Next(3) == 0) significand &= ~((1UL << random.Next(1, 40)) - 1); // short significands hit exact results
        int exponent = Float80.Bias + random.Next(-exponentSpread, exponentSpread + 1);
        return new Float80((ushort)(exponent | (random.Next(2) << 15)), significand);
    }

    /// <summary>The exact value as a signed fraction numerator / denominator.</summary>
    private static (BigInteger Numerator, BigInteger Denominator) Exact(Float80 value)
    {
        int exponent = value.BiasedExponent - Float80.Bias - 63;
        BigInteger numerator = value.Significand, denominator = BigInteger.One;
        if (exponent >= 0) numerator <<= exponent;
        else denominator <<= -exponent;
        return (value.Sign ? -numerator : numerator, denominator);
    }

    /// <summary>Rounds a non-zero rational to <paramref name="precision"/> bits (normal range assumed); returns the register value and whether it is inexact.</summary>
    private static (Float80 Value, bool Inexact, bool RoundedUp) Reference(BigInteger numerator, BigInteger denominator, int precision, int rounding)
    {
        bool negative = numerator.Sign < 0 ^ denominator.Sign < 0;
        numerator = BigInteger.Abs(numerator);
        denominator = BigInteger.Abs(denominator);
        // e = floor(log2(n / d)).
        int e = (int)(numerator.GetBitLength() - denominator.GetBitLength());
        if ((e >= 0 ? numerator >= denominator << e : numerator << -e >= denominator) == false) e--;
        int shift = precision - 1 - e; // integer part of q * 2^shift has exactly `precision` bits
        BigInteger scaledNumerator = shift >= 0 ? numerator << shift : numerator;
        BigInteger scaledDenominator = shift >= 0 ? denominator : denominator << -shift;
        BigInteger quotient = BigInteger.DivRem(scaledNumerator, scaledDenominator, out BigInteger remainder);
        bool inexact = !remainder.IsZero;
        int half = (remainder * 2).CompareTo(scaledDenominator);
        bool up = rounding switch
        {
            RoundingContext.ToNearest => half > 0 || (half == 0 && !quotient.IsEven),
            RoundingContext.Down => inexact && negative,
            RoundingContext.Up => inexact && !negative,
            _ => false,
        };
        if (up) quotient += 1;
        if (quotient.GetBitLength() > precision)
        {
            quotient >>= 1;
            e++;
        }
        ulong significand = (ulong)(quotient << (64 - precision));
        return (new Float80((ushort)((e + Float80.Bias) | (negative ? 0x8000 : 0)), significand), inexact, up);
    }

    public static IEnumerable<object[]> Modes()
    {
        foreach (int precision in new[] { 64, 53, 24 })
            for (int rounding = 0; rounding < 4; rounding++)
                yield return [precision, rounding];
    }

    private static RoundingContext Context(int precision, int rounding)
    {
        int pc = precision switch { 24 => 0, 53 => 2, _ => 3 };
        return new RoundingContext((ushort)(0x3F | 0x40 | pc << 8 | rounding << 10));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void AddSubtractMultiplyDivideRoundExactlyOnce(int precision, int rounding)
    {
        var random = new Random(precision * 10 + rounding);
        for (int n = 0; n < 2000; n++)
        {
            Float80 a = RandomNormal(random), b = RandomNormal(random);
            if (random.Next(4) == 0) b = new Float80((ushort)(b.SignExponent & 0x8000 | (a.BiasedExponent + random.Next(-3, 4))), b.Significand); // cancellation
            var (an, ad) = Exact(a);
            var (bn, bd) = Exact(b);
            Check("add", a, b, Add, an * bd + bn * ad, ad * bd, precision, rounding);
            Check("sub", a, b, (ref RoundingContext c, Float80 x, Float80 y) => ExtendedArithmetic.Add(ref c, x, y, true), an * bd - bn * ad, ad * bd, precision, rounding);
            Check("mul", a, b, (ref RoundingContext c, Float80 x, Float80 y) => ExtendedArithmetic.Multiply(ref c, x, y), an * bn, ad * bd, precision, rounding);
            Check("div", a, b, (ref RoundingContext c, Float80 x, Float80 y) => ExtendedArithmetic.Divide(ref c, x, y), an * bd, ad * bn, precision, rounding);
        }
    }

    private delegate Float80 Operation(ref RoundingContext context, Float80 a, Float80 b);

    private static void Check(string name, Float80 a, Float80 b, Operation operation, BigInteger numerator, BigInteger denominator, int precision, int rounding)
    {
        var context = Context(precision, rounding);
        Float80 actual = operation(ref context, a, b);
        if (numerator.IsZero)
        {
            Assert.Equal(Float80.Zero(rounding == RoundingContext.Down), actual);
            return;
        }
        var (expected, inexact, up) = Reference(numerator, denominator, precision, rounding);
        Assert.True(expected == actual, $"{name} {a} {b} pc={precision} rc={rounding}: expected {expected}, got {actual}");
        Assert.Equal(inexact, (context.Exceptions & FpuStatus.Precision) != 0);
        Assert.Equal(inexact && up, context.C1);
    }

    private static Float80 Add(ref RoundingContext context, Float80 a, Float80 b) => ExtendedArithmetic.Add(ref context, a, b, false);

    [Theory]
    [MemberData(nameof(Modes))]
    public void SquareRootIsCorrectlyRounded(int precision, int rounding)
    {
        var random = new Random(1000 + precision * 10 + rounding);
        for (int n = 0; n < 2000; n++)
        {
            Float80 a = RandomNormal(random).Absolute;
            var context = Context(precision, rounding);
            Float80 root = ExtendedArithmetic.SquareRoot(ref context, a);
            // The correctly rounded root r satisfies: the exact root lies in the rounding interval of r. Check it by
            // squaring the neighbours: r is the result of rounding sqrt(a) iff the reference applied to the
            // bracket [r-, r+] agrees; here we compare with an integer square root at high precision.
            var (numerator, denominator) = Exact(a); // denominator is a power of two
            int denominatorBits = (int)denominator.GetBitLength() - 1;
            int extra = 2 * 200;
            BigInteger scaled = numerator << (extra + (denominatorBits & 1)); // make the exponent even
            int rootDenominatorBits = (extra + denominatorBits + (denominatorBits & 1)) / 2;
            BigInteger integerRoot = IntegerSqrt(scaled);
            bool exact = integerRoot * integerRoot == scaled;
            // sqrt(a) = integerRoot / 2^rootDenominatorBits, plus a sticky fraction when not exact.
            BigInteger refNumerator = integerRoot * 2 + (exact ? 0 : 1);
            var (expected, inexact, up) = Reference(refNumerator, BigInteger.One << (rootDenominatorBits + 1), precision, rounding);
            Assert.True(expected == root, $"sqrt {a} pc={precision} rc={rounding}: expected {expected}, got {root}");
            Assert.Equal(inexact, (context.Exceptions & FpuStatus.Precision) != 0);
            Assert.Equal(inexact && up, context.C1);
        }
    }

    private static BigInteger IntegerSqrt(BigInteger n)
    {
        if (n.IsZero) return n;
        BigInteger x = BigInteger.One << (int)((n.GetBitLength() + 1) / 2);
        while (true)
        {
            BigInteger y = (x + n / x) >> 1;
            if (y >= x) return x;
            x = y;
        }
    }

    [Fact]
    public void MaskedResponsesFollowTheSdm()
    {
        var context = new RoundingContext(0x37F);
        Float80 infinity = Float80.Infinity(false), zero = Float80.Zero(false), one = new(Float80.Bias, Float80.IntegerBit);
        Assert.Equal(Float80.Indefinite, ExtendedArithmetic.Add(ref context, infinity, infinity.Negated, false));
        Assert.Equal(FpuStatus.Invalid, context.Exceptions);

        context = new RoundingContext(0x37F);
        Assert.Equal(Float80.Infinity(true), ExtendedArithmetic.Divide(ref context, one.Negated, zero));
        Assert.Equal(FpuStatus.ZeroDivide, context.Exceptions);

        // Overflow: nearest gives infinity, toward zero the largest finite value; both inexact.
        Float80 huge = new(0x7FFE, 0xC000_0000_0000_0000);
        context = new RoundingContext(0x37F);
        Assert.Equal(infinity, ExtendedArithmetic.Multiply(ref context, huge, huge));
        Assert.Equal(FpuStatus.Overflow | FpuStatus.Precision, context.Exceptions);
        context = new RoundingContext(0xF7F);
        Assert.Equal(new Float80(0x7FFE, ulong.MaxValue), ExtendedArithmetic.Multiply(ref context, huge, huge));

        // Underflow to a denormal: 2^-16382 * 0.75 * 2^-1 is exact (no U when masked), 2^-16382 / 3 is not.
        Float80 smallest = new(1, Float80.IntegerBit);
        context = new RoundingContext(0x37F);
        Assert.Equal(new Float80(0, 0x3000_0000_0000_0000), ExtendedArithmetic.Multiply(ref context, smallest, new Float80(Float80.Bias - 2, 0xC000_0000_0000_0000)));
        Assert.Equal(0, context.Exceptions);
        context = new RoundingContext(0x37F);
        ExtendedArithmetic.Divide(ref context, smallest, new Float80(Float80.Bias + 1, 0xC000_0000_0000_0000));
        Assert.Equal(FpuStatus.Underflow | FpuStatus.Precision, context.Exceptions);

        // Unmasked overflow delivers the result with the exponent wrapped by 24576.
        context = new RoundingContext(0x377);
        Float80 wrapped = ExtendedArithmetic.Multiply(ref context, huge, huge);
        Assert.Equal(2 * (0x7FFE - Float80.Bias) + 1 + Float80.Bias - ExtendedArithmetic.BiasAdjust, wrapped.BiasedExponent);
        Assert.Equal(0x9000_0000_0000_0000UL, wrapped.Significand);
    }

    [Fact]
    public void ConversionsToNarrowFormatsRoundByTheControlWordAndIgnorePrecisionControl()
    {
        // 1 + 2^-30 in double is exact, in single it rounds to 1 (nearest) or 1 + 2^-23 (up).
        Float80 value = new(Float80.Bias, Float80.IntegerBit | (1UL << 33));
        var context = new RoundingContext(0x07F); // PC = single must not matter for stores
        Assert.Equal(BitConverter.DoubleToUInt64Bits(1 + Math.Pow(2, -30)), ExtendedArithmetic.ToBinary(ref context, value, 52, 11, out _));
        Assert.Equal(0, context.Exceptions);
        Assert.Equal(BitConverter.SingleToUInt32Bits(1f), (uint)ExtendedArithmetic.ToBinary(ref context, value, 23, 8, out _));
        context = new RoundingContext(0xB7F);
        Assert.Equal(BitConverter.SingleToUInt32Bits(1f + MathF.Pow(2, -23)), (uint)ExtendedArithmetic.ToBinary(ref context, value, 23, 8, out _));
        Assert.Equal(FpuStatus.Precision, context.Exceptions);
        Assert.True(context.C1);

        // Integers: 2.5 rounds to 2 (nearest even), 3 (up); 2^31 does not fit in 32 bits.
        Float80 twoAndHalf = new(Float80.Bias + 1, 0xA000_0000_0000_0000);
        context = new RoundingContext(0x37F);
        Assert.Equal(2, ExtendedArithmetic.ToInteger(ref context, twoAndHalf, 32));
        context = new RoundingContext(0xB7F);
        Assert.Equal(3, ExtendedArithmetic.ToInteger(ref context, twoAndHalf, 32));
        context = new RoundingContext(0x37F);
        Assert.Equal(int.MinValue, ExtendedArithmetic.ToInteger(ref context, new Float80(Float80.Bias + 31, Float80.IntegerBit), 32));
        Assert.Equal(FpuStatus.Invalid, context.Exceptions);
        context = new RoundingContext(0x37F);
        Assert.Equal(int.MinValue, ExtendedArithmetic.ToInteger(ref context, new Float80(0x8000 | (Float80.Bias + 31), Float80.IntegerBit), 32));
        Assert.Equal(0, context.Exceptions);
    }
}
