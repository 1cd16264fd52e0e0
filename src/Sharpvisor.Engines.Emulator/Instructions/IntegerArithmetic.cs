using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>ADD, ADC, SUB, SBB, AND, OR, XOR, CMP, TEST, INC, DEC, NEG, NOT: two-operand integer arithmetic with flags.</summary>
public static unsafe class IntegerArithmetic
{
    public static void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Add, &Add);
        table.SetAllGeneralForms(Mnemonic.Adc, &Adc);
        table.SetAllGeneralForms(Mnemonic.Sub, &Sub);
        table.SetAllGeneralForms(Mnemonic.Sbb, &Sbb);
        table.SetAllGeneralForms(Mnemonic.And, &And);
        table.SetAllGeneralForms(Mnemonic.Or, &Or);
        table.SetAllGeneralForms(Mnemonic.Xor, &Xor);
        table.SetAllGeneralForms(Mnemonic.Cmp, &Cmp);
        table.SetAllGeneralForms(Mnemonic.Test, &Test);
        table.SetAllGeneralForms(Mnemonic.Inc, &Inc);
        table.SetAllGeneralForms(Mnemonic.Dec, &Dec);
        table.SetAllGeneralForms(Mnemonic.Neg, &Neg);
        table.SetAllGeneralForms(Mnemonic.Not, &Not);
    }

    // LOCK changes nothing for a single vCPU thread's view; cross-vCPU atomicity comes with SMP (issue 4).
    private static void Add(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), b = Read(cpu, i, 1, w), r = (a + b) & Mask(w);
        Write(cpu, i, 0, w, r);
        cpu.Flags.Set(FlagOperation.Add, w, a, b, r);
    }

    private static void Adc(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong carry = cpu.Flags.Carry ? 1UL : 0;
        ulong a = Read(cpu, i, 0, w), b = Read(cpu, i, 1, w), r = (a + b + carry) & Mask(w);
        Write(cpu, i, 0, w, r);
        cpu.Flags.Set(FlagOperation.AddWithCarry, w, a, b, r, carry);
    }

    private static void Sub(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), b = Read(cpu, i, 1, w), r = (a - b) & Mask(w);
        Write(cpu, i, 0, w, r);
        cpu.Flags.Set(FlagOperation.Sub, w, a, b, r);
    }

    private static void Sbb(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong borrow = cpu.Flags.Carry ? 1UL : 0;
        ulong a = Read(cpu, i, 0, w), b = Read(cpu, i, 1, w), r = (a - b - borrow) & Mask(w);
        Write(cpu, i, 0, w, r);
        cpu.Flags.Set(FlagOperation.SubWithBorrow, w, a, b, r, borrow);
    }

    private static void Cmp(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), b = Read(cpu, i, 1, w);
        cpu.Flags.Set(FlagOperation.Sub, w, a, b, (a - b) & Mask(w));
    }

    private static void And(CpuCore cpu, ref Instruction i) => Logic(cpu, ref i, 0);
    private static void Or(CpuCore cpu, ref Instruction i) => Logic(cpu, ref i, 1);
    private static void Xor(CpuCore cpu, ref Instruction i) => Logic(cpu, ref i, 2);

    private static void Logic(CpuCore cpu, ref Instruction i, int operation)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), b = Read(cpu, i, 1, w);
        ulong r = operation switch { 0 => a & b, 1 => a | b, _ => a ^ b };
        Write(cpu, i, 0, w, r);
        cpu.Flags.Set(FlagOperation.Logic, w, a, b, r);
    }

    private static void Test(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), b = Read(cpu, i, 1, w);
        cpu.Flags.Set(FlagOperation.Logic, w, a, b, a & b);
    }

    private static void Inc(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), r = (a + 1) & Mask(w);
        ulong carry = cpu.Flags.Carry ? 1UL : 0;
        Write(cpu, i, 0, w, r);
        cpu.Flags.Set(FlagOperation.Increment, w, a, 1, r, carry);
    }

    private static void Dec(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), r = (a - 1) & Mask(w);
        ulong carry = cpu.Flags.Carry ? 1UL : 0;
        Write(cpu, i, 0, w, r);
        cpu.Flags.Set(FlagOperation.Decrement, w, a, 1, r, carry);
    }

    private static void Neg(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), r = (0 - a) & Mask(w);
        Write(cpu, i, 0, w, r);
        cpu.Flags.Set(FlagOperation.Negate, w, a, 0, r);
    }

    private static void Not(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        Write(cpu, i, 0, w, ~Read(cpu, i, 0, w) & Mask(w));
    }
}
