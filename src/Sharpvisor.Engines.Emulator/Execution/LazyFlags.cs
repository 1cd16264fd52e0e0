using System.Numerics;
using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// The six arithmetic flags (CF PF AF ZF SF OF) kept as "the last operation, its operands and its result", and
/// computed on demand. Setting costs a few stores; a flag that nobody reads costs nothing.
/// </summary>
public struct LazyFlags
{
    public const ulong CarryBit = 1 << 0, ParityBit = 1 << 2, AdjustBit = 1 << 4, ZeroBit = 1 << 6, SignBit = 1 << 7,
        OverflowBit = 1 << 11;
    public const ulong ArithmeticMask = CarryBit | ParityBit | AdjustBit | ZeroBit | SignBit | OverflowBit;

    public FlagOperation Operation;
    /// <summary>Operand width in bytes: 1, 2, 4 or 8.</summary>
    public byte Width;
    public ulong Src1, Src2, Result;
    /// <summary>Carry in (ADC/SBB), or the CF to keep (INC/DEC), or the flag bits when <see cref="Operation"/> is Materialized.</summary>
    public ulong Auxiliary;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(FlagOperation operation, int width, ulong src1, ulong src2, ulong result, ulong auxiliary = 0)
    {
        Operation = operation;
        Width = (byte)width;
        Src1 = src1;
        Src2 = src2;
        Result = result;
        Auxiliary = auxiliary;
    }

    /// <summary>Takes the arithmetic flags from an RFLAGS value (POPF, SAHF, IRET, state restore).</summary>
    public void Load(ulong rflags)
    {
        Operation = FlagOperation.Materialized;
        Auxiliary = rflags & ArithmeticMask;
    }

    /// <summary>The arithmetic flags as RFLAGS bits.</summary>
    public readonly ulong ToBits()
    {
        if (Operation == FlagOperation.Materialized) return Auxiliary;
        ulong bits = 0;
        if (Carry) bits |= CarryBit;
        if (Parity) bits |= ParityBit;
        if (Adjust) bits |= AdjustBit;
        if (Zero) bits |= ZeroBit;
        if (Sign) bits |= SignBit;
        if (Overflow) bits |= OverflowBit;
        return bits;
    }

    private readonly ulong Mask => Width == 8 ? ulong.MaxValue : (1UL << (Width * 8)) - 1;
    private readonly ulong TopBit => 1UL << (Width * 8 - 1);
    private readonly ulong Masked(ulong value) => value & Mask;

    public readonly bool Zero => Operation == FlagOperation.Materialized ? (Auxiliary & ZeroBit) != 0 : Masked(Result) == 0;

    public readonly bool Sign => Operation == FlagOperation.Materialized ? (Auxiliary & SignBit) != 0 : (Result & TopBit) != 0;

    /// <summary>PF: the low byte of the result has an even number of set bits.</summary>
    public readonly bool Parity => Operation == FlagOperation.Materialized
        ? (Auxiliary & ParityBit) != 0
        : (BitOperations.PopCount(Result & 0xFF) & 1) == 0;

    public readonly bool Carry
    {
        get
        {
            ulong a = Masked(Src1), b = Masked(Src2), r = Masked(Result);
            int bits = Width * 8;
            return Operation switch
            {
                FlagOperation.Materialized => (Auxiliary & CarryBit) != 0,
                FlagOperation.Add => r < a,
                FlagOperation.AddWithCarry => Auxiliary != 0 ? r <= a : r < a,
                FlagOperation.Sub => a < b,
                FlagOperation.SubWithBorrow => Auxiliary != 0 ? a <= b : a < b,
                FlagOperation.Logic => false,
                FlagOperation.Increment or FlagOperation.Decrement => Auxiliary != 0,
                FlagOperation.Negate => a != 0,
                FlagOperation.ShiftLeft => b <= (ulong)bits && ((a >> (bits - (int)b)) & 1) != 0,
                FlagOperation.ShiftRightLogical => ((a >> ((int)b - 1)) & 1) != 0,
                FlagOperation.ShiftRightArithmetic => (((long)SignExtend(a) >> Math.Min((int)b - 1, 63)) & 1) != 0,
                FlagOperation.Multiply => Auxiliary != 0,
                _ => false,
            };
        }
    }

    public readonly bool Overflow
    {
        get
        {
            ulong a = Src1, b = Src2, r = Result, top = TopBit;
            return Operation switch
            {
                FlagOperation.Materialized => (Auxiliary & OverflowBit) != 0,
                FlagOperation.Add or FlagOperation.AddWithCarry or FlagOperation.Increment => ((a ^ r) & (b ^ r) & top) != 0,
                FlagOperation.Sub or FlagOperation.SubWithBorrow or FlagOperation.Decrement => ((a ^ b) & (a ^ r) & top) != 0,
                FlagOperation.Negate => Masked(a) == top,
                FlagOperation.Logic => false,
                // Defined for a count of 1; for larger counts hardware leaves it undefined, and we give the same formula.
                FlagOperation.ShiftLeft => ((r & top) != 0) ^ Carry,
                FlagOperation.ShiftRightLogical => (a & top) != 0 && b == 1,
                FlagOperation.ShiftRightArithmetic => false,
                FlagOperation.Multiply => Auxiliary != 0,
                _ => false,
            };
        }
    }

    /// <summary>AF: a carry or borrow out of bit 3 (undefined after logic and shifts; we give 0 there).</summary>
    public readonly bool Adjust => Operation switch
    {
        FlagOperation.Materialized => (Auxiliary & AdjustBit) != 0,
        FlagOperation.Logic or FlagOperation.ShiftLeft or FlagOperation.ShiftRightLogical or FlagOperation.ShiftRightArithmetic
            or FlagOperation.Multiply => false,
        FlagOperation.Negate => ((Src1 ^ Result) & 0x10) != 0,
        _ => ((Src1 ^ Src2 ^ Result) & 0x10) != 0,
    };

    private readonly ulong SignExtend(ulong value) => Width switch
    {
        1 => (ulong)(long)(sbyte)value,
        2 => (ulong)(long)(short)value,
        4 => (ulong)(long)(int)value,
        _ => value,
    };

    /// <summary>Whether a Jcc/SETcc/CMOVcc condition holds.</summary>
    public readonly bool Holds(ConditionCode condition) => condition switch
    {
        ConditionCode.o => Overflow,
        ConditionCode.no => !Overflow,
        ConditionCode.b => Carry,
        ConditionCode.ae => !Carry,
        ConditionCode.e => Zero,
        ConditionCode.ne => !Zero,
        ConditionCode.be => Carry || Zero,
        ConditionCode.a => !Carry && !Zero,
        ConditionCode.s => Sign,
        ConditionCode.ns => !Sign,
        ConditionCode.p => Parity,
        ConditionCode.np => !Parity,
        ConditionCode.l => Sign != Overflow,
        ConditionCode.ge => Sign == Overflow,
        ConditionCode.le => Zero || Sign != Overflow,
        ConditionCode.g => !Zero && Sign == Overflow,
        _ => true,
    };
}
