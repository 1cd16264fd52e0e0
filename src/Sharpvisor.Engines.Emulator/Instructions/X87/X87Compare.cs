using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// FCOM FCOMP FCOMPP FUCOM FUCOMP FUCOMPP FICOM FICOMP (condition codes C3 C2 C0), FCOMI FCOMIP FUCOMI FUCOMIP
/// (ZF PF CF), FTST and FXAM.
/// </summary>
public static class X87Compare
{
    public static unsafe void Register(InstructionTable t)
    {
        foreach (Code code in new[]
                 {
                     Code.Fcom_m32fp, Code.Fcom_m64fp, Code.Fcom_st0_sti, Code.Fcomp_m32fp, Code.Fcomp_m64fp, Code.Fcomp_st0_sti, Code.Fcompp,
                     Code.Fucom_st0_sti, Code.Fucomp_st0_sti, Code.Fucompp,
                     Code.Ficom_m16int, Code.Ficom_m32int, Code.Ficomp_m16int, Code.Ficomp_m32int,
                 })
            t.Set(code, &CompareToConditionCodes);
        foreach (Code code in new[] { Code.Fcomi_st0_sti, Code.Fcomip_st0_sti, Code.Fucomi_st0_sti, Code.Fucomip_st0_sti })
            t.Set(code, &CompareToFlags);
        t.Set(Code.Ftst, &Test);
        t.Set(Code.Fxam, &Examine);
    }

    private static int ConditionCodes(ExtendedArithmetic.Order order) => order switch
    {
        ExtendedArithmetic.Order.Greater => 0,
        ExtendedArithmetic.Order.Less => FpuStatus.C0,
        ExtendedArithmetic.Order.Equal => FpuStatus.C3,
        _ => FpuStatus.C3 | FpuStatus.C2 | FpuStatus.C0,
    };

    private static void CompareToConditionCodes(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        Mnemonic mnemonic = i.Mnemonic;
        bool memory = i.Op0Kind == OpKind.Memory;
        Float80 source = default;
        bool sourceDenormal = false;
        int sourceIndex = 1;
        if (memory) source = X87Arithmetic.ReadOperand(cpu, i, out sourceDenormal);
        else if (mnemonic is not (Mnemonic.Fcompp or Mnemonic.Fucompp)) sourceIndex = X87Core.StackIndex(i.Op1Register);
        bool quiet = mnemonic is Mnemonic.Fucom or Mnemonic.Fucomp or Mnemonic.Fucompp;
        int pops = mnemonic switch
        {
            Mnemonic.Fcomp or Mnemonic.Fucomp or Mnemonic.Ficomp => 1,
            Mnemonic.Fcompp or Mnemonic.Fucompp => 2,
            _ => 0,
        };

        var context = X87Core.Context(cpu);
        ExtendedArithmetic.Order order;
        if (X87Core.IsEmpty(cpu, 0) || (!memory && X87Core.IsEmpty(cpu, sourceIndex)))
        {
            X87Core.StackUnderflow(ref context);
            order = ExtendedArithmetic.Order.Unordered;
        }
        else
        {
            if (!memory) source = X87Core.St(cpu, sourceIndex);
            order = ExtendedArithmetic.Compare(ref context, X87Core.St(cpu, 0), source, quiet, sourceDenormal);
        }
        // The condition codes are written even when an unmasked exception suppresses the pops.
        bool complete = X87Core.Commit(cpu, ref context);
        X87Core.SetConditions(cpu, ConditionCodes(order) | (cpu.FpuStatusWord & FpuStatus.C1));
        if (complete)
            for (int k = 0; k < pops; k++) X87Core.Pop(cpu);
        X87Core.RecordPointers(cpu, i, memory);
    }

    private static void CompareToFlags(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        int sourceIndex = X87Core.StackIndex(i.Op1Register);
        Mnemonic mnemonic = i.Mnemonic;
        bool quiet = mnemonic is Mnemonic.Fucomi or Mnemonic.Fucomip;
        var context = X87Core.Context(cpu);
        ExtendedArithmetic.Order order;
        if (X87Core.IsEmpty(cpu, 0) || X87Core.IsEmpty(cpu, sourceIndex))
        {
            X87Core.StackUnderflow(ref context);
            order = ExtendedArithmetic.Order.Unordered;
        }
        else order = ExtendedArithmetic.Compare(ref context, X87Core.St(cpu, 0), X87Core.St(cpu, sourceIndex), quiet);
        if (X87Core.Commit(cpu, ref context))
        {
            ulong flags = order switch
            {
                ExtendedArithmetic.Order.Greater => 0,
                ExtendedArithmetic.Order.Less => LazyFlags.CarryBit,
                ExtendedArithmetic.Order.Equal => LazyFlags.ZeroBit,
                _ => LazyFlags.ZeroBit | LazyFlags.ParityBit | LazyFlags.CarryBit,
            };
            cpu.Flags.Load(flags);
            if (mnemonic is Mnemonic.Fcomip or Mnemonic.Fucomip) X87Core.Pop(cpu);
        }
        X87Core.RecordPointers(cpu, i, false);
    }

    private static void Test(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        var context = X87Core.Context(cpu);
        ExtendedArithmetic.Order order;
        if (X87Core.IsEmpty(cpu, 0))
        {
            X87Core.StackUnderflow(ref context);
            order = ExtendedArithmetic.Order.Unordered;
        }
        else order = ExtendedArithmetic.Compare(ref context, X87Core.St(cpu, 0), Float80.Zero(false), quiet: false);
        X87Core.Commit(cpu, ref context);
        X87Core.SetConditions(cpu, ConditionCodes(order) | (cpu.FpuStatusWord & FpuStatus.C1));
        X87Core.RecordPointers(cpu, i, false);
    }

    /// <summary>FXAM: C3 C2 C0 give the class of ST(0) (empty included), C1 its sign. Raises nothing.</summary>
    private static void Examine(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        Float80 value = X87Core.St(cpu, 0);
        int conditions;
        if (X87Core.IsEmpty(cpu, 0)) conditions = FpuStatus.C3 | FpuStatus.C0;
        else conditions = value.Classify() switch
        {
            X87Class.Unsupported => 0,
            X87Class.QuietNaN or X87Class.SignalingNaN => FpuStatus.C0,
            X87Class.Normal => FpuStatus.C2,
            X87Class.Infinity => FpuStatus.C2 | FpuStatus.C0,
            X87Class.Zero => FpuStatus.C3,
            _ => FpuStatus.C3 | FpuStatus.C2,
        };
        if (value.Sign) conditions |= FpuStatus.C1;
        X87Core.SetConditions(cpu, conditions);
        X87Core.RecordPointers(cpu, i, false);
    }
}
