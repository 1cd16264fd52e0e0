using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Tests.Execution;

/// <summary>
/// Lazy flags against a reference that computes each flag from its definition with 128-bit arithmetic (a carry is
/// "the unsigned sum does not fit", an overflow "the signed sum does not fit"), over random operands of every width.
/// The differential oracle against the host CPU checks the same instructions again later.
/// </summary>
public class LazyFlagsTests
{
    private static readonly int[] Widths = [1, 2, 4, 8];

    private static ulong Mask(int width) => width == 8 ? ulong.MaxValue : (1UL << (width * 8)) - 1;

    private static Int128 Signed(ulong value, int width)
    {
        int shift = 64 - width * 8;
        return (long)(value << shift) >> shift;
    }

    private static bool ParityOf(ulong result) => (System.Numerics.BitOperations.PopCount(result & 0xFF) & 1) == 0;

    private static (bool C, bool O, bool A, bool Z, bool S, bool P) ReferenceAdd(ulong a, ulong b, ulong carryIn, int width, bool subtract)
    {
        ulong m = Mask(width);
        a &= m;
        b &= m;
        UInt128 wide = subtract ? (UInt128)a - b - carryIn : (UInt128)a + b + carryIn;
        ulong r = (ulong)wide & m;
        bool carry = subtract ? (UInt128)a < (UInt128)b + carryIn : wide > m;
        Int128 signedWide = subtract ? Signed(a, width) - Signed(b, width) - (Int128)carryIn : Signed(a, width) + Signed(b, width) + (Int128)carryIn;
        Int128 min = -(Int128.One << (width * 8 - 1)), max = (Int128.One << (width * 8 - 1)) - 1;
        bool overflow = signedWide < min || signedWide > max;
        bool adjust = subtract ? (a & 0xF) < (b & 0xF) + carryIn : (a & 0xF) + (b & 0xF) + carryIn > 0xF;
        return (carry, overflow, adjust, r == 0, (r >> (width * 8 - 1)) != 0, ParityOf(r));
    }

    private static void AssertFlags(LazyFlags f, (bool C, bool O, bool A, bool Z, bool S, bool P) expected, string what)
    {
        Assert.True(expected == (f.Carry, f.Overflow, f.Adjust, f.Zero, f.Sign, f.Parity),
            $"{what}: expected CF OF AF ZF SF PF = {expected}, got {(f.Carry, f.Overflow, f.Adjust, f.Zero, f.Sign, f.Parity)}");
    }

    [Fact]
    public void AddSubAdcSbbMatchTheirDefinitions()
    {
        var random = new Random(1234);
        for (int i = 0; i < 20_000; i++)
        {
            int width = Widths[i % 4];
            ulong a = NextInteresting(random), b = NextInteresting(random), m = Mask(width);
            ulong cin = (ulong)(i / 4 % 2);
            var f = new LazyFlags();

            f.Set(FlagOperation.Add, width, a & m, b & m, (a + b) & m);
            AssertFlags(f, ReferenceAdd(a, b, 0, width, false), $"add{width * 8} {a & m:x},{b & m:x}");
            f.Set(FlagOperation.Sub, width, a & m, b & m, (a - b) & m);
            AssertFlags(f, ReferenceAdd(a, b, 0, width, true), $"sub{width * 8} {a & m:x},{b & m:x}");
            f.Set(FlagOperation.AddWithCarry, width, a & m, b & m, (a + b + cin) & m, cin);
            AssertFlags(f, ReferenceAdd(a, b, cin, width, false), $"adc{width * 8} {a & m:x},{b & m:x},{cin}");
            f.Set(FlagOperation.SubWithBorrow, width, a & m, b & m, (a - b - cin) & m, cin);
            AssertFlags(f, ReferenceAdd(a, b, cin, width, true), $"sbb{width * 8} {a & m:x},{b & m:x},{cin}");
        }
    }

    [Fact]
    public void IncAndDecKeepTheCarry()
    {
        var f = new LazyFlags();
        f.Set(FlagOperation.Increment, 1, 0x7F, 1, 0x80, auxiliary: 1);
        Assert.True(f.Carry);
        Assert.True(f.Overflow);
        Assert.True(f.Adjust);
        Assert.True(f.Sign);
        f.Set(FlagOperation.Decrement, 4, 0, 1, 0xFFFF_FFFF, auxiliary: 0);
        Assert.False(f.Carry);
        Assert.False(f.Overflow);
        Assert.True(f.Sign);
        Assert.True(f.Parity);
    }

    [Theory]
    [InlineData(1, 0x80UL, true, true)]   // -128: carry, and overflow because the result cannot be +128
    [InlineData(2, 0UL, false, false)]
    [InlineData(8, 1UL, true, false)]
    public void NegSetsCarryUnlessZeroAndOverflowOnTheMinimum(int width, ulong a, bool carry, bool overflow)
    {
        var f = new LazyFlags();
        f.Set(FlagOperation.Negate, width, a, 0, (0 - a) & Mask(width));
        Assert.Equal(carry, f.Carry);
        Assert.Equal(overflow, f.Overflow);
    }

    [Fact]
    public void ShiftsReportTheLastBitShiftedOut()
    {
        var f = new LazyFlags();
        f.Set(FlagOperation.ShiftLeft, 1, 0xC0, 1, 0x80);          // shl al,1 with al = 0xC0: CF=1, OF = MSB ^ CF = 0
        Assert.True(f.Carry);
        Assert.False(f.Overflow);
        f.Set(FlagOperation.ShiftLeft, 1, 0x40, 1, 0x80);          // 0x40 << 1: CF=0, OF=1
        Assert.False(f.Carry);
        Assert.True(f.Overflow);
        f.Set(FlagOperation.ShiftRightLogical, 2, 0x8001, 1, 0x4000); // CF = bit 0, OF = old MSB
        Assert.True(f.Carry);
        Assert.True(f.Overflow);
        f.Set(FlagOperation.ShiftRightArithmetic, 4, 0x8000_0000, 31, 0xFFFF_FFFF); // sar by 31: CF = bit 30 = 0
        Assert.False(f.Carry);
        f.Set(FlagOperation.ShiftRightArithmetic, 1, 0x80, 7, 0xFF);  // sar al,7 on 0x80: CF = bit 6 = 0
        Assert.False(f.Carry);
        f.Set(FlagOperation.ShiftRightArithmetic, 1, 0x80, 9, 0xFF);  // count beyond the width: CF is the sign
        Assert.True(f.Carry);
    }

    [Fact]
    public void MaterializedFlagsRoundTripAndConditionsFollowThem()
    {
        var f = new LazyFlags();
        f.Load(0x0000_0000_0000_08D5 | 0x202);
        Assert.Equal(0x8D5UL & LazyFlags.ArithmeticMask, f.ToBits());
        f.Set(FlagOperation.Sub, 4, 3, 5, unchecked((ulong)(3 - 5)) & 0xFFFF_FFFF); // cmp 3, 5
        Assert.True(f.Holds(ConditionCode.b));
        Assert.True(f.Holds(ConditionCode.l));
        Assert.True(f.Holds(ConditionCode.le));
        Assert.False(f.Holds(ConditionCode.g));
        Assert.False(f.Holds(ConditionCode.e));
        f.Set(FlagOperation.Sub, 4, 0x8000_0000, 1, 0x7FFF_FFFF);               // cmp INT_MIN, 1: signed less, overflow
        Assert.True(f.Holds(ConditionCode.l));
        Assert.True(f.Holds(ConditionCode.o));
        Assert.True(f.Holds(ConditionCode.a));
    }

    private static ulong NextInteresting(Random random) => (random.Next(6)) switch
    {
        0 => 0,
        1 => ulong.MaxValue,
        2 => 1UL << random.Next(64),
        3 => (1UL << random.Next(64)) - 1,
        _ => (ulong)random.NextInt64() ^ ((ulong)random.Next() << 33),
    };
}
