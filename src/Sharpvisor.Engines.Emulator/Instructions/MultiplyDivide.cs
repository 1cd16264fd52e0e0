using System.Runtime.CompilerServices;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV. The one-operand forms work on the accumulator pair
/// (AX, DX:AX, EDX:EAX, RDX:RAX). Products set CF = OF = "did not fit"; SF ZF AF PF are undefined after them (we
/// give SF ZF PF of the truncated product, AF 0). Division raises #DE for a zero divisor or a quotient that does
/// not fit, and leaves all flags unchanged (they are undefined).
/// </summary>
public static class MultiplyDivide
{
    public static unsafe void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Mul, &Mul);
        table.SetAllGeneralForms(Mnemonic.Imul, &Imul);
        table.SetAllGeneralForms(Mnemonic.Div, &Div);
        table.SetAllGeneralForms(Mnemonic.Idiv, &Idiv);
        table.SetAllGeneralSpecializers(Mnemonic.Imul, &SpecializeImul);
    }

    /// <summary>Stores a double-width result: AH:AL for bytes, else rDX:rAX with the usual partial-write rules.</summary>
    private static void WriteAccumulatorPair(CpuCore cpu, int width, ulong low, ulong high)
    {
        switch (width)
        {
            case 1: WriteRegister(cpu, Iced.Intel.Register.AX, ((high & 0xFF) << 8) | (low & 0xFF)); break;
            case 2: WriteRegister(cpu, Iced.Intel.Register.AX, low); WriteRegister(cpu, Iced.Intel.Register.DX, high); break;
            case 4: WriteRegister(cpu, Iced.Intel.Register.EAX, low); WriteRegister(cpu, Iced.Intel.Register.EDX, high); break;
            default: cpu.Gpr[CpuCore.Rax] = low; cpu.Gpr[CpuCore.Rdx] = high; break;
        }
    }

    /// <summary>The double-width dividend for widths 1, 2 and 4 (AX, DX:AX, EDX:EAX) as a 64-bit value.</summary>
    private static ulong NarrowDividend(CpuCore cpu, int width)
    {
        ulong rax = cpu.Gpr[CpuCore.Rax], rdx = cpu.Gpr[CpuCore.Rdx];
        return width switch
        {
            1 => rax & 0xFFFF,
            2 => ((rdx & 0xFFFF) << 16) | (rax & 0xFFFF),
            _ => ((rdx & 0xFFFF_FFFF) << 32) | (rax & 0xFFFF_FFFF),
        };
    }

    private static void Mul(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), bits = w * 8;
        ulong a = cpu.Gpr[CpuCore.Rax] & Mask(w), b = Read(cpu, i, 0, w);
        ulong low, high;
        if (w == 8) high = Math.BigMul(a, b, out low);
        else
        {
            ulong product = a * b; // at most 64 bits for 32-bit operands
            low = product & Mask(w);
            high = product >> bits;
        }
        WriteAccumulatorPair(cpu, w, low, high);
        cpu.Flags.Set(FlagOperation.Multiply, w, a, b, low, high != 0 ? 1UL : 0);
    }

    private static void Imul(CpuCore cpu, ref Instruction i)
    {
        if (i.OpCount == 1) { ImulAccumulator(cpu, ref i); return; }
        int w = Width(i, 0);
        // Two operands: dst *= r/m. Three: dst = r/m * imm (the immediate is sign-extended to the operand size).
        ulong a = i.OpCount == 2 ? Read(cpu, i, 0, w) : Read(cpu, i, 1, w);
        ulong b = i.OpCount == 2 ? Read(cpu, i, 1, w) : Read(cpu, i, 2, w);
        ulong low;
        bool overflow;
        if (w == 8)
        {
            long high = Math.BigMul((long)a, (long)b, out long signedLow);
            low = (ulong)signedLow;
            overflow = high != signedLow >> 63;
        }
        else
        {
            long product = (long)SignExtend(a, w) * (long)SignExtend(b, w);
            low = (ulong)product & Mask(w);
            overflow = (long)SignExtend(low, w) != product;
        }
        Write(cpu, i, 0, w, low);
        cpu.Flags.Set(FlagOperation.Multiply, w, a, b, low, overflow ? 1UL : 0);
    }

    private static void ImulAccumulator(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), bits = w * 8;
        ulong a = cpu.Gpr[CpuCore.Rax] & Mask(w), b = Read(cpu, i, 0, w);
        ulong low, high;
        bool overflow;
        if (w == 8)
        {
            long signedHigh = Math.BigMul((long)a, (long)b, out long signedLow);
            low = (ulong)signedLow;
            high = (ulong)signedHigh;
            overflow = signedHigh != signedLow >> 63;
        }
        else
        {
            long product = (long)SignExtend(a, w) * (long)SignExtend(b, w);
            low = (ulong)product & Mask(w);
            high = (ulong)(product >> bits) & Mask(w);
            overflow = (long)SignExtend(low, w) != product;
        }
        WriteAccumulatorPair(cpu, w, low, high);
        cpu.Flags.Set(FlagOperation.Multiply, w, a, b, low, overflow ? 1UL : 0);
    }

    private static void Div(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong divisor = Read(cpu, i, 0, w);
        if (divisor == 0) throw new GuestFault(GuestFault.DivideError);
        ulong quotient, remainder;
        if (w == 8)
        {
            ulong high = cpu.Gpr[CpuCore.Rdx];
            if (high >= divisor) throw new GuestFault(GuestFault.DivideError); // the quotient would not fit in 64 bits
            var dividend = new UInt128(high, cpu.Gpr[CpuCore.Rax]);
            quotient = (ulong)(dividend / divisor);
            remainder = (ulong)(dividend % divisor);
        }
        else
        {
            ulong dividend = NarrowDividend(cpu, w);
            quotient = dividend / divisor;
            remainder = dividend % divisor;
            if (quotient > Mask(w)) throw new GuestFault(GuestFault.DivideError);
        }
        WriteQuotientAndRemainder(cpu, w, quotient, remainder);
    }

    private static void Idiv(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        long divisor = (long)SignExtend(Read(cpu, i, 0, w), w);
        if (divisor == 0) throw new GuestFault(GuestFault.DivideError);
        long quotient, remainder;
        if (w == 8)
        {
            var dividend = new Int128(cpu.Gpr[CpuCore.Rdx], cpu.Gpr[CpuCore.Rax]);
            if (divisor == -1 && dividend == Int128.MinValue) throw new GuestFault(GuestFault.DivideError);
            Int128 q = dividend / divisor;
            if (q > long.MaxValue || q < long.MinValue) throw new GuestFault(GuestFault.DivideError);
            quotient = (long)q;
            remainder = (long)(dividend % divisor);
        }
        else
        {
            long dividend = (long)SignExtend(NarrowDividend(cpu, w), w * 2);
            // long.MinValue / -1 would trap in .NET; its quotient cannot fit in 32 bits anyway.
            if (divisor == -1 && dividend == long.MinValue) throw new GuestFault(GuestFault.DivideError);
            quotient = dividend / divisor;
            remainder = dividend % divisor;
            long limit = 1L << (w * 8 - 1);
            if (quotient >= limit || quotient < -limit) throw new GuestFault(GuestFault.DivideError);
        }
        WriteQuotientAndRemainder(cpu, w, (ulong)quotient & Mask(w), (ulong)remainder & Mask(w));
    }

    private static void WriteQuotientAndRemainder(CpuCore cpu, int width, ulong quotient, ulong remainder) =>
        WriteAccumulatorPair(cpu, width, quotient, remainder); // AL/AH, AX/DX, EAX/EDX, RAX/RDX: same places as a product

    // Specialized IMUL r, r/m and IMUL r, r/m, imm (64-bit mode), bit for bit the generic handler: the product of two
    // factors masked to the width, the destination register written with the usual partial-write rule.

    /// <summary>The truncated signed product of two factors already masked to the width; sets CF = OF = "did not fit".</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SignedProduct<TW>(ref LazyFlags flags, ulong a, ulong b) where TW : struct, IOperandWidth
    {
        ulong low;
        bool overflow;
        if (TW.Bytes == 8)
        {
            long high = Math.BigMul((long)a, (long)b, out long signedLow);
            low = (ulong)signedLow;
            overflow = high != signedLow >> 63;
        }
        else
        {
            long product = (long)TW.SignExtend(a) * (long)TW.SignExtend(b);
            low = (ulong)product & TW.Mask;
            overflow = (long)TW.SignExtend(low) != product;
        }
        flags.Set(FlagOperation.Multiply, TW.Bytes, a, b, low, overflow ? 1UL : 0);
        return low;
    }

    /// <summary>The factor besides the r/m operand: the destination register (two operands) or the immediate (three).</summary>
    private interface IMultiplier
    {
        static abstract ulong Read<TW>(CpuCore cpu, in Instruction i) where TW : struct, IOperandWidth;
    }

    private readonly struct DestinationMultiplier : IMultiplier
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Read<TW>(CpuCore cpu, in Instruction i) where TW : struct, IOperandWidth =>
            FastOperands.Gpr<TW>(cpu, i.Op0Register) & TW.Mask;
    }

    private readonly struct ImmediateMultiplier<TI> : IMultiplier where TI : struct, IImmediate
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Read<TW>(CpuCore cpu, in Instruction i) where TW : struct, IOperandWidth => TI.Read(i) & TW.Mask;
    }

    private static nint SpecializeImul(in Instruction i) =>
        FastOperands.Specializable(i) && i.OpCount is 2 or 3 && i.Op0Kind == OpKind.Register
            ? FastOperands.ByWidth<ImulChoice>(FastOperands.RegisterWidth(i.Op0Register), i)
            : 0;

    private readonly struct ImulChoice : IWidthChoice
    {
        public static nint For<TW>(in Instruction i) where TW : struct, IOperandWidth
        {
            if (TW.Bytes == 1 || FastOperands.WidthOf(i, 1) != TW.Bytes) return 0;
            if (i.OpCount == 3) return FastOperands.ByImmediate<ImulImmediateChoice<TW>>(i, 2, TW.Bytes);
            return For<TW, DestinationMultiplier>(i);
        }

        public static unsafe nint For<TW, TM>(in Instruction i) where TW : struct, IOperandWidth where TM : struct, IMultiplier => i.Op1Kind switch
        {
            OpKind.Register => FastOperands.Handler(&ImulRegister<TW, TM>),
            OpKind.Memory => FastOperands.ByAddress<ImulMemoryChoice<TW, TM>>(i),
            _ => 0,
        };
    }

    private readonly struct ImulImmediateChoice<TW> : IImmediateChoice where TW : struct, IOperandWidth
    {
        public static nint For<TI>(in Instruction i) where TI : struct, IImmediate => ImulChoice.For<TW, ImmediateMultiplier<TI>>(i);
    }

    private readonly struct ImulMemoryChoice<TW, TM> : IAddressChoice where TW : struct, IOperandWidth where TM : struct, IMultiplier
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&ImulMemory<TW, TM, TA>);
    }

    private static void ImulRegister<TW, TM>(CpuCore cpu, ref Instruction i) where TW : struct, IOperandWidth where TM : struct, IMultiplier
    {
        ulong a = TM.Read<TW>(cpu, i), b = FastOperands.Gpr<TW>(cpu, i.Op1Register) & TW.Mask;
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        destination = TW.Merge(destination, SignedProduct<TW>(ref cpu.Flags, a, b));
    }

    private static void ImulMemory<TW, TM, TA>(CpuCore cpu, ref Instruction i)
        where TW : struct, IOperandWidth where TM : struct, IMultiplier where TA : struct, IAddressForm
    {
        ulong b = cpu.Memory.Read(TA.Compute(cpu, i), TW.Bytes);
        ulong a = TM.Read<TW>(cpu, i);
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        destination = TW.Merge(destination, SignedProduct<TW>(ref cpu.Flags, a, b));
    }
}
