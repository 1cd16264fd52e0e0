using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// FADD FSUB FSUBR FMUL FDIV FDIVR in all their forms (m32fp, m64fp, ST(0) op ST(i), ST(i) op ST(0), the popping
/// P forms, and FIADD... with m16int/m32int), plus the one-operand FCHS FABS FRNDINT FSQRT.
/// </summary>
public static class X87Arithmetic
{
    public static unsafe void Register(InstructionTable t)
    {
        foreach (Code code in new[]
                 {
                     Code.Fadd_m32fp, Code.Fadd_m64fp, Code.Fadd_st0_sti, Code.Fadd_sti_st0, Code.Faddp_sti_st0, Code.Fiadd_m16int, Code.Fiadd_m32int,
                     Code.Fsub_m32fp, Code.Fsub_m64fp, Code.Fsub_st0_sti, Code.Fsub_sti_st0, Code.Fsubp_sti_st0, Code.Fisub_m16int, Code.Fisub_m32int,
                     Code.Fsubr_m32fp, Code.Fsubr_m64fp, Code.Fsubr_st0_sti, Code.Fsubr_sti_st0, Code.Fsubrp_sti_st0, Code.Fisubr_m16int, Code.Fisubr_m32int,
                     Code.Fmul_m32fp, Code.Fmul_m64fp, Code.Fmul_st0_sti, Code.Fmul_sti_st0, Code.Fmulp_sti_st0, Code.Fimul_m16int, Code.Fimul_m32int,
                     Code.Fdiv_m32fp, Code.Fdiv_m64fp, Code.Fdiv_st0_sti, Code.Fdiv_sti_st0, Code.Fdivp_sti_st0, Code.Fidiv_m16int, Code.Fidiv_m32int,
                     Code.Fdivr_m32fp, Code.Fdivr_m64fp, Code.Fdivr_st0_sti, Code.Fdivr_sti_st0, Code.Fdivrp_sti_st0, Code.Fidivr_m16int, Code.Fidivr_m32int,
                 })
            t.Set(code, &Arithmetic);
        t.Set(Code.Fchs, &ChangeSign);
        t.Set(Code.Fabs, &Absolute);
        t.Set(Code.Frndint, &RoundToIntegral);
        t.Set(Code.Fsqrt, &SquareRoot);
    }

    /// <summary>
    /// A memory operand widened to the register format: m32fp/m64fp exactly (reporting a denormal source), integers
    /// exactly, m80fp bit for bit.
    /// </summary>
    internal static Float80 ReadOperand(CpuCore cpu, in Instruction i, out bool denormal)
    {
        ulong address = Operands.EffectiveAddress(cpu, i);
        denormal = false;
        switch (i.MemorySize)
        {
            case MemorySize.Float32:
                return ExtendedArithmetic.FromBinary(cpu.Memory.Read(address, 4), 23, 8, out denormal);
            case MemorySize.Float64:
                return ExtendedArithmetic.FromBinary(cpu.Memory.Read(address, 8), 52, 11, out denormal);
            case MemorySize.Int16:
                return ExtendedArithmetic.FromInteger((short)cpu.Memory.Read(address, 2));
            case MemorySize.Int32:
                return ExtendedArithmetic.FromInteger((int)cpu.Memory.Read(address, 4));
            case MemorySize.Int64:
                return ExtendedArithmetic.FromInteger((long)cpu.Memory.Read(address, 8));
            default:
            {
                Span<byte> bytes = stackalloc byte[10];
                cpu.Memory.ReadBytes(address, bytes);
                return Float80.Read(bytes);
            }
        }
    }

    private static void Arithmetic(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        bool memory = i.Op0Kind == OpKind.Memory;
        Float80 source = default;
        bool sourceDenormal = false;
        int destination = 0, sourceIndex = 0;
        if (memory) source = ReadOperand(cpu, i, out sourceDenormal);
        else
        {
            destination = X87Core.StackIndex(i.Op0Register);
            sourceIndex = X87Core.StackIndex(i.Op1Register);
        }
        Mnemonic mnemonic = i.Mnemonic;
        bool pop = mnemonic is Mnemonic.Faddp or Mnemonic.Fsubp or Mnemonic.Fsubrp or Mnemonic.Fmulp or Mnemonic.Fdivp or Mnemonic.Fdivrp;

        var context = X87Core.Context(cpu);
        Float80 result;
        if (X87Core.IsEmpty(cpu, destination) || (!memory && X87Core.IsEmpty(cpu, sourceIndex)))
        {
            X87Core.StackUnderflow(ref context);
            result = Float80.Indefinite;
        }
        else
        {
            Float80 d = X87Core.St(cpu, destination);
            if (!memory) source = X87Core.St(cpu, sourceIndex);
            result = Operate(ref context, mnemonic, d, source, sourceDenormal);
        }
        if (X87Core.Commit(cpu, ref context))
        {
            X87Core.SetSt(cpu, destination, result);
            if (pop) X87Core.Pop(cpu);
        }
        X87Core.RecordPointers(cpu, i, memory);
    }

    private static Float80 Operate(ref RoundingContext context, Mnemonic mnemonic, Float80 d, Float80 s, bool sourceDenormal) => mnemonic switch
    {
        Mnemonic.Fadd or Mnemonic.Faddp or Mnemonic.Fiadd => ExtendedArithmetic.Add(ref context, d, s, false, sourceDenormal),
        Mnemonic.Fsub or Mnemonic.Fsubp or Mnemonic.Fisub => ExtendedArithmetic.Add(ref context, d, s, true, sourceDenormal),
        Mnemonic.Fsubr or Mnemonic.Fsubrp or Mnemonic.Fisubr => ExtendedArithmetic.Add(ref context, s, d, true, sourceDenormal),
        Mnemonic.Fmul or Mnemonic.Fmulp or Mnemonic.Fimul => ExtendedArithmetic.Multiply(ref context, d, s, sourceDenormal),
        Mnemonic.Fdiv or Mnemonic.Fdivp or Mnemonic.Fidiv => ExtendedArithmetic.Divide(ref context, d, s, sourceDenormal),
        _ => ExtendedArithmetic.Divide(ref context, s, d, sourceDenormal),
    };

    /// <summary>The one-operand instructions on ST(0): underflow when empty, else the operation.</summary>
    private static void Unary(CpuCore cpu, in Instruction i, int operation)
    {
        X87Core.BeginWaiting(cpu);
        var context = X87Core.Context(cpu);
        Float80 result;
        if (X87Core.IsEmpty(cpu, 0))
        {
            X87Core.StackUnderflow(ref context);
            result = Float80.Indefinite;
        }
        else
        {
            Float80 value = X87Core.St(cpu, 0);
            result = operation switch
            {
                0 => value.Negated,
                1 => value.Absolute,
                2 => ExtendedArithmetic.RoundToIntegral(ref context, value),
                _ => ExtendedArithmetic.SquareRoot(ref context, value),
            };
        }
        if (X87Core.Commit(cpu, ref context)) X87Core.SetSt(cpu, 0, result);
        X87Core.RecordPointers(cpu, i, false);
    }

    private static void ChangeSign(CpuCore cpu, ref Instruction i) => Unary(cpu, i, 0);
    private static void Absolute(CpuCore cpu, ref Instruction i) => Unary(cpu, i, 1);
    private static void RoundToIntegral(CpuCore cpu, ref Instruction i) => Unary(cpu, i, 2);
    private static void SquareRoot(CpuCore cpu, ref Instruction i) => Unary(cpu, i, 3);
}
