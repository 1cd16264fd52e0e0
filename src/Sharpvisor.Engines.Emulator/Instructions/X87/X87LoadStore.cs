using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// Data transfer: FLD (m32fp m64fp m80fp ST(i)), FILD, the constants (FLDZ FLD1 FLDPI FLDL2E FLDL2T FLDLG2 FLDLN2),
/// FST/FSTP (m32fp m64fp m80fp ST(i)), FIST/FISTP, FXCH, FCMOVcc, FFREE, FINCSTP, FDECSTP, FNOP.
/// </summary>
public static class X87LoadStore
{
    public static unsafe void Register(InstructionTable t)
    {
        foreach (Code code in new[] { Code.Fld_m32fp, Code.Fld_m64fp, Code.Fld_m80fp, Code.Fild_m16int, Code.Fild_m32int, Code.Fild_m64int })
            t.Set(code, &LoadMemory);
        t.Set(Code.Fld_sti, &LoadRegister);
        foreach (Code code in new[] { Code.Fldz, Code.Fld1, Code.Fldpi, Code.Fldl2e, Code.Fldl2t, Code.Fldlg2, Code.Fldln2 })
            t.Set(code, &LoadConstant);
        foreach (Code code in new[] { Code.Fst_m32fp, Code.Fst_m64fp, Code.Fstp_m32fp, Code.Fstp_m64fp, Code.Fstp_m80fp })
            t.Set(code, &StoreReal);
        foreach (Code code in new[] { Code.Fist_m16int, Code.Fist_m32int, Code.Fistp_m16int, Code.Fistp_m32int, Code.Fistp_m64int })
            t.Set(code, &StoreInteger);
        t.Set(Code.Fst_sti, &StoreRegister);
        t.Set(Code.Fstp_sti, &StoreRegister);
        t.Set(Code.Fxch_st0_sti, &Exchange);
        foreach (Code code in new[]
                 {
                     Code.Fcmovb_st0_sti, Code.Fcmove_st0_sti, Code.Fcmovbe_st0_sti, Code.Fcmovu_st0_sti,
                     Code.Fcmovnb_st0_sti, Code.Fcmovne_st0_sti, Code.Fcmovnbe_st0_sti, Code.Fcmovnu_st0_sti,
                 })
            t.Set(code, &ConditionalMove);
        t.Set(Code.Ffree_sti, &Free);
        t.Set(Code.Fincstp, &IncrementTop);
        t.Set(Code.Fdecstp, &DecrementTop);
        t.Set(Code.Fnop, &NoOperation);
    }

    /// <summary>
    /// Pushes a value, or raises stack overflow (masked: pushes the indefinite) when ST(7) is in use. Only an
    /// unmasked invalid operation stops the push: a load completes under an unmasked denormal exception.
    /// </summary>
    private static void PushChecked(CpuCore cpu, ref RoundingContext context, Float80 value)
    {
        if (!X87Core.IsEmpty(cpu, 7))
        {
            // The operand is not examined: stack overflow is the only exception.
            context.Exceptions = 0;
            X87Core.StackOverflow(ref context);
            value = Float80.Indefinite;
        }
        X87Core.Commit(cpu, ref context);
        if ((context.Exceptions & ~context.Masks & FpuStatus.Invalid) == 0) X87Core.Push(cpu, value);
    }

    private static void LoadMemory(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        Float80 value = X87Arithmetic.ReadOperand(cpu, i, out bool denormal);
        var context = X87Core.Context(cpu);
        if (i.MemorySize is MemorySize.Float32 or MemorySize.Float64)
        {
            if (value.Classify() == X87Class.SignalingNaN)
            {
                context.Exceptions |= FpuStatus.Invalid;
                value = value.Quieted;
            }
            else if (denormal) context.Exceptions |= FpuStatus.Denormal;
        }
        PushChecked(cpu, ref context, value);
        X87Core.RecordPointers(cpu, i, true);
    }

    private static void LoadRegister(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        int source = X87Core.StackIndex(i.Op0Register);
        var context = X87Core.Context(cpu);
        Float80 value;
        if (X87Core.IsEmpty(cpu, source))
        {
            X87Core.StackUnderflow(ref context);
            value = Float80.Indefinite;
        }
        else value = X87Core.St(cpu, source);
        PushChecked(cpu, ref context, value);
        X87Core.RecordPointers(cpu, i, false);
    }

    private static void LoadConstant(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        var context = X87Core.Context(cpu);
        Float80 value = i.Code switch
        {
            Code.Fldz => Float80.Zero(false),
            Code.Fld1 => new Float80(Float80.Bias, Float80.IntegerBit),
            Code.Fldpi => Constant(context.Rounding, 1, 0xC90FDAA22168C234, 0xC4C6628B80DC1CD1),
            Code.Fldl2e => Constant(context.Rounding, 0, 0xB8AA3B295C17F0BB, 0xBE87FED0691D3E88),
            Code.Fldl2t => Constant(context.Rounding, 1, 0xD49A784BCD1B8AFE, 0x492BF6FF4DAFDB4C),
            Code.Fldlg2 => Constant(context.Rounding, -2, 0x9A209A84FBCFF798, 0x8F8959AC0B7C9178),
            _ => Constant(context.Rounding, -1, 0xB17217F7D1CF79AB, 0xC9E3B39803F2F6AF),
        };
        PushChecked(cpu, ref context, value);
        X87Core.RecordPointers(cpu, i, false);
    }

    /// <summary>A positive irrational constant (128 significant bits, exponent of the leading bit) rounded to 64 bits by RC, without flags.</summary>
    private static Float80 Constant(int rounding, int exponent, ulong high, ulong low)
    {
        // The remaining bits are not all zero, so nearest rounding depends only on the first dropped bit.
        bool up = rounding switch
        {
            RoundingContext.ToNearest => (low >> 63) != 0,
            RoundingContext.Up => true,
            _ => false,
        };
        ulong significand = high + (up ? 1UL : 0);
        return new Float80((ushort)(exponent + Float80.Bias), significand); // no constant's significand is all ones
    }

    private static void StoreReal(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        var context = X87Core.Context(cpu);
        ulong address = Operands.EffectiveAddress(cpu, i);
        bool empty = X87Core.IsEmpty(cpu, 0);
        Float80 value = empty ? Float80.Indefinite : X87Core.St(cpu, 0);
        if (empty) X87Core.StackUnderflow(ref context);
        bool store = true;
        switch (i.MemorySize)
        {
            case MemorySize.Float32:
            {
                ulong bits = ExtendedArithmetic.ToBinary(ref context, value, 23, 8, out store);
                if (store && !context.Suppressed) cpu.Memory.Write(address, 4, bits);
                break;
            }
            case MemorySize.Float64:
            {
                ulong bits = ExtendedArithmetic.ToBinary(ref context, value, 52, 11, out store);
                if (store && !context.Suppressed) cpu.Memory.Write(address, 8, bits);
                break;
            }
            default:
                if (!context.Suppressed)
                {
                    Span<byte> bytes = stackalloc byte[10];
                    value.Write(bytes);
                    cpu.Memory.WriteBytes(address, bytes);
                }
                break;
        }
        if (X87Core.Commit(cpu, ref context) && store && i.Mnemonic == Mnemonic.Fstp) X87Core.Pop(cpu);
        X87Core.RecordPointers(cpu, i, true);
    }

    private static void StoreInteger(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        var context = X87Core.Context(cpu);
        ulong address = Operands.EffectiveAddress(cpu, i);
        int size = i.MemorySize switch { MemorySize.Int16 => 2, MemorySize.Int32 => 4, _ => 8 };
        long value;
        if (X87Core.IsEmpty(cpu, 0))
        {
            X87Core.StackUnderflow(ref context);
            value = long.MinValue >> (64 - size * 8);
        }
        else value = ExtendedArithmetic.ToInteger(ref context, X87Core.St(cpu, 0), size * 8);
        if (!context.Suppressed) cpu.Memory.Write(address, size, (ulong)value & Operands.Mask(size));
        if (X87Core.Commit(cpu, ref context) && i.Mnemonic == Mnemonic.Fistp) X87Core.Pop(cpu);
        X87Core.RecordPointers(cpu, i, true);
    }

    private static void StoreRegister(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        var context = X87Core.Context(cpu);
        int destination = X87Core.StackIndex(i.Op0Register);
        Float80 value;
        if (X87Core.IsEmpty(cpu, 0))
        {
            X87Core.StackUnderflow(ref context);
            value = Float80.Indefinite;
        }
        else value = X87Core.St(cpu, 0);
        if (X87Core.Commit(cpu, ref context))
        {
            X87Core.SetSt(cpu, destination, value);
            if (i.Mnemonic == Mnemonic.Fstp) X87Core.Pop(cpu);
        }
        X87Core.RecordPointers(cpu, i, false);
    }

    private static void Exchange(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        var context = X87Core.Context(cpu);
        int other = X87Core.StackIndex(i.Op1Register);
        bool emptyTop = X87Core.IsEmpty(cpu, 0), emptyOther = X87Core.IsEmpty(cpu, other);
        if (emptyTop || emptyOther) X87Core.StackUnderflow(ref context);
        if (X87Core.Commit(cpu, ref context))
        {
            Float80 top = emptyTop ? Float80.Indefinite : X87Core.St(cpu, 0);
            Float80 value = emptyOther ? Float80.Indefinite : X87Core.St(cpu, other);
            X87Core.SetSt(cpu, 0, value);
            X87Core.SetSt(cpu, other, top);
        }
        X87Core.RecordPointers(cpu, i, false);
    }

    private static void ConditionalMove(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        var context = X87Core.Context(cpu);
        int source = X87Core.StackIndex(i.Op1Register);
        bool condition = i.Code switch
        {
            Code.Fcmovb_st0_sti => cpu.Flags.Carry,
            Code.Fcmove_st0_sti => cpu.Flags.Zero,
            Code.Fcmovbe_st0_sti => cpu.Flags.Carry || cpu.Flags.Zero,
            Code.Fcmovu_st0_sti => cpu.Flags.Parity,
            Code.Fcmovnb_st0_sti => !cpu.Flags.Carry,
            Code.Fcmovne_st0_sti => !cpu.Flags.Zero,
            Code.Fcmovnbe_st0_sti => !cpu.Flags.Carry && !cpu.Flags.Zero,
            _ => !cpu.Flags.Parity,
        };
        if (X87Core.IsEmpty(cpu, 0) || X87Core.IsEmpty(cpu, source))
        {
            X87Core.StackUnderflow(ref context);
            if (X87Core.Commit(cpu, ref context)) X87Core.SetSt(cpu, 0, Float80.Indefinite);
        }
        else
        {
            X87Core.Commit(cpu, ref context);
            if (condition) X87Core.SetSt(cpu, 0, X87Core.St(cpu, source));
        }
        X87Core.RecordPointers(cpu, i, false);
    }

    private static void Free(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        cpu.FpuTagValid &= (byte)~(1 << X87Core.Physical(cpu, X87Core.StackIndex(i.Op0Register)));
        X87Core.RecordPointers(cpu, i, false);
    }

    private static void IncrementTop(CpuCore cpu, ref Instruction i) => MoveTop(cpu, i, 1);
    private static void DecrementTop(CpuCore cpu, ref Instruction i) => MoveTop(cpu, i, -1);

    private static void MoveTop(CpuCore cpu, in Instruction i, int delta)
    {
        X87Core.BeginWaiting(cpu);
        X87Core.SetTop(cpu, X87Core.Top(cpu) + delta);
        cpu.FpuStatusWord &= unchecked((ushort)~FpuStatus.C1);
        X87Core.RecordPointers(cpu, i, false);
    }

    private static void NoOperation(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        X87Core.RecordPointers(cpu, i, false);
    }
}
