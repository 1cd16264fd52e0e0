using System.Runtime.CompilerServices;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>ADD, ADC, SUB, SBB, AND, OR, XOR, CMP, TEST, INC, DEC, NEG, NOT: two-operand integer arithmetic with flags.</summary>
public static class IntegerArithmetic
{
    public static unsafe void Register(InstructionTable table)
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

        table.SetAllGeneralSpecializers(Mnemonic.Add, &SpecializeBinary<AddOperation>);
        table.SetAllGeneralSpecializers(Mnemonic.Adc, &SpecializeBinary<AdcOperation>);
        table.SetAllGeneralSpecializers(Mnemonic.Sub, &SpecializeBinary<SubOperation>);
        table.SetAllGeneralSpecializers(Mnemonic.Sbb, &SpecializeBinary<SbbOperation>);
        table.SetAllGeneralSpecializers(Mnemonic.And, &SpecializeBinary<AndOperation>);
        table.SetAllGeneralSpecializers(Mnemonic.Or, &SpecializeBinary<OrOperation>);
        table.SetAllGeneralSpecializers(Mnemonic.Xor, &SpecializeBinary<XorOperation>);
        table.SetAllGeneralSpecializers(Mnemonic.Cmp, &SpecializeBinary<FlagsOnly<SubOperation>>);
        table.SetAllGeneralSpecializers(Mnemonic.Test, &SpecializeBinary<FlagsOnly<AndOperation>>);
        table.SetAllGeneralSpecializers(Mnemonic.Inc, &SpecializeUnary<IncOperation>);
        table.SetAllGeneralSpecializers(Mnemonic.Dec, &SpecializeUnary<DecOperation>);
        table.SetAllGeneralSpecializers(Mnemonic.Neg, &SpecializeUnary<NegOperation>);
        table.SetAllGeneralSpecializers(Mnemonic.Not, &SpecializeUnary<NotOperation>);
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

    // Specialized forms (64-bit mode): the same operations with operand kinds, width, addressing and immediate form
    // fixed at decode time. Each must match the generic handler above bit for bit; the differential oracle runs both.

    /// <summary>A two-operand operation: computes the result from operands already masked to the width and sets the flags.</summary>
    private interface IBinaryOperation
    {
        static abstract bool WritesResult { get; }
        static abstract ulong Apply<TW>(ref LazyFlags flags, ulong a, ulong b) where TW : struct, IOperandWidth;
    }

    private readonly struct AddOperation : IBinaryOperation
    {
        public static bool WritesResult => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, ulong b) where TW : struct, IOperandWidth
        {
            ulong r = (a + b) & TW.Mask;
            flags.Set(FlagOperation.Add, TW.Bytes, a, b, r);
            return r;
        }
    }

    private readonly struct AdcOperation : IBinaryOperation
    {
        public static bool WritesResult => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, ulong b) where TW : struct, IOperandWidth
        {
            ulong carry = flags.Carry ? 1UL : 0;
            ulong r = (a + b + carry) & TW.Mask;
            flags.Set(FlagOperation.AddWithCarry, TW.Bytes, a, b, r, carry);
            return r;
        }
    }

    private readonly struct SubOperation : IBinaryOperation
    {
        public static bool WritesResult => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, ulong b) where TW : struct, IOperandWidth
        {
            ulong r = (a - b) & TW.Mask;
            flags.Set(FlagOperation.Sub, TW.Bytes, a, b, r);
            return r;
        }
    }

    private readonly struct SbbOperation : IBinaryOperation
    {
        public static bool WritesResult => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, ulong b) where TW : struct, IOperandWidth
        {
            ulong borrow = flags.Carry ? 1UL : 0;
            ulong r = (a - b - borrow) & TW.Mask;
            flags.Set(FlagOperation.SubWithBorrow, TW.Bytes, a, b, r, borrow);
            return r;
        }
    }

    private readonly struct AndOperation : IBinaryOperation
    {
        public static bool WritesResult => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, ulong b) where TW : struct, IOperandWidth
        {
            ulong r = a & b;
            flags.Set(FlagOperation.Logic, TW.Bytes, a, b, r);
            return r;
        }
    }

    private readonly struct OrOperation : IBinaryOperation
    {
        public static bool WritesResult => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, ulong b) where TW : struct, IOperandWidth
        {
            ulong r = a | b;
            flags.Set(FlagOperation.Logic, TW.Bytes, a, b, r);
            return r;
        }
    }

    private readonly struct XorOperation : IBinaryOperation
    {
        public static bool WritesResult => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, ulong b) where TW : struct, IOperandWidth
        {
            ulong r = a ^ b;
            flags.Set(FlagOperation.Logic, TW.Bytes, a, b, r);
            return r;
        }
    }

    /// <summary>CMP is SUB and TEST is AND with the flags kept and the result dropped.</summary>
    private readonly struct FlagsOnly<TOp> : IBinaryOperation where TOp : struct, IBinaryOperation
    {
        public static bool WritesResult => false;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, ulong b) where TW : struct, IOperandWidth => TOp.Apply<TW>(ref flags, a, b);
    }

    private static nint SpecializeBinary<TOp>(in Instruction i) where TOp : struct, IBinaryOperation =>
        FastOperands.Specializable(i) && i.OpCount == 2 ? FastOperands.ByWidth<BinaryChoice<TOp>>(FastOperands.WidthOf(i, 0), i) : 0;

    private readonly struct BinaryChoice<TOp> : IWidthChoice where TOp : struct, IBinaryOperation
    {
        public static unsafe nint For<TW>(in Instruction i) where TW : struct, IOperandWidth
        {
            var source = i.Op1Kind;
            if (i.Op0Kind == OpKind.Register)
            {
                if (source == OpKind.Register)
                    return FastOperands.RegisterWidth(i.Op1Register) == TW.Bytes ? FastOperands.Handler(&RegisterRegister<TOp, TW>) : 0;
                if (source == OpKind.Memory)
                    return FastOperands.WidthOf(i, 1) == TW.Bytes ? FastOperands.ByAddress<RegisterMemoryChoice<TOp, TW>>(i) : 0;
                return FastOperands.IsImmediate(source) ? FastOperands.ByImmediate<RegisterImmediateChoice<TOp, TW>>(i, 1, TW.Bytes) : 0;
            }
            if (i.Op0Kind != OpKind.Memory) return 0;
            if (source == OpKind.Register)
                return FastOperands.RegisterWidth(i.Op1Register) == TW.Bytes ? FastOperands.ByAddress<MemoryRegisterChoice<TOp, TW>>(i) : 0;
            return FastOperands.IsImmediate(source) ? FastOperands.ByAddress<MemoryImmediateChoice<TOp, TW>>(i) : 0;
        }
    }

    private readonly struct RegisterMemoryChoice<TOp, TW> : IAddressChoice where TOp : struct, IBinaryOperation where TW : struct, IOperandWidth
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&RegisterMemory<TOp, TW, TA>);
    }

    private readonly struct MemoryRegisterChoice<TOp, TW> : IAddressChoice where TOp : struct, IBinaryOperation where TW : struct, IOperandWidth
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&MemoryRegister<TOp, TW, TA>);
    }

    private readonly struct RegisterImmediateChoice<TOp, TW> : IImmediateChoice where TOp : struct, IBinaryOperation where TW : struct, IOperandWidth
    {
        public static unsafe nint For<TI>(in Instruction i) where TI : struct, IImmediate => FastOperands.Handler(&RegisterImmediate<TOp, TW, TI>);
    }

    private readonly struct MemoryImmediateChoice<TOp, TW> : IAddressChoice where TOp : struct, IBinaryOperation where TW : struct, IOperandWidth
    {
        public static nint For<TA>(in Instruction i) where TA : struct, IAddressForm =>
            FastOperands.ByImmediate<MemoryImmediateChoice<TOp, TW, TA>>(i, 1, TW.Bytes);
    }

    private readonly struct MemoryImmediateChoice<TOp, TW, TA> : IImmediateChoice
        where TOp : struct, IBinaryOperation where TW : struct, IOperandWidth where TA : struct, IAddressForm
    {
        public static unsafe nint For<TI>(in Instruction i) where TI : struct, IImmediate => FastOperands.Handler(&MemoryImmediate<TOp, TW, TA, TI>);
    }

    private static void RegisterRegister<TOp, TW>(CpuCore cpu, ref Instruction i) where TOp : struct, IBinaryOperation where TW : struct, IOperandWidth
    {
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        ulong b = FastOperands.Gpr<TW>(cpu, i.Op1Register) & TW.Mask;
        ulong r = TOp.Apply<TW>(ref cpu.Flags, destination & TW.Mask, b);
        if (TOp.WritesResult) destination = TW.Merge(destination, r);
    }

    private static void RegisterImmediate<TOp, TW, TI>(CpuCore cpu, ref Instruction i)
        where TOp : struct, IBinaryOperation where TW : struct, IOperandWidth where TI : struct, IImmediate
    {
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        ulong r = TOp.Apply<TW>(ref cpu.Flags, destination & TW.Mask, TI.Read(i) & TW.Mask);
        if (TOp.WritesResult) destination = TW.Merge(destination, r);
    }

    private static void RegisterMemory<TOp, TW, TA>(CpuCore cpu, ref Instruction i)
        where TOp : struct, IBinaryOperation where TW : struct, IOperandWidth where TA : struct, IAddressForm
    {
        ulong b = cpu.Memory.Read(TA.Compute(cpu, i), TW.Bytes);
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        ulong r = TOp.Apply<TW>(ref cpu.Flags, destination & TW.Mask, b);
        if (TOp.WritesResult) destination = TW.Merge(destination, r);
    }

    private static void MemoryRegister<TOp, TW, TA>(CpuCore cpu, ref Instruction i)
        where TOp : struct, IBinaryOperation where TW : struct, IOperandWidth where TA : struct, IAddressForm
    {
        ulong address = TA.Compute(cpu, i);
        ulong a = cpu.Memory.Read(address, TW.Bytes);
        var flags = cpu.Flags; // committed after the store, so a faulting store leaves the flags as they were
        ulong r = TOp.Apply<TW>(ref flags, a, FastOperands.Gpr<TW>(cpu, i.Op1Register) & TW.Mask);
        if (TOp.WritesResult) cpu.Memory.Write(address, TW.Bytes, r);
        cpu.Flags = flags;
    }

    private static void MemoryImmediate<TOp, TW, TA, TI>(CpuCore cpu, ref Instruction i)
        where TOp : struct, IBinaryOperation where TW : struct, IOperandWidth where TA : struct, IAddressForm where TI : struct, IImmediate
    {
        ulong address = TA.Compute(cpu, i);
        ulong a = cpu.Memory.Read(address, TW.Bytes);
        var flags = cpu.Flags;
        ulong r = TOp.Apply<TW>(ref flags, a, TI.Read(i) & TW.Mask);
        if (TOp.WritesResult) cpu.Memory.Write(address, TW.Bytes, r);
        cpu.Flags = flags;
    }

    /// <summary>A one-operand operation on a value masked to the width; sets the flags it sets.</summary>
    private interface IUnaryOperation
    {
        static abstract ulong Apply<TW>(ref LazyFlags flags, ulong a) where TW : struct, IOperandWidth;
    }

    private readonly struct IncOperation : IUnaryOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a) where TW : struct, IOperandWidth
        {
            ulong r = (a + 1) & TW.Mask;
            flags.Set(FlagOperation.Increment, TW.Bytes, a, 1, r, flags.Carry ? 1UL : 0);
            return r;
        }
    }

    private readonly struct DecOperation : IUnaryOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a) where TW : struct, IOperandWidth
        {
            ulong r = (a - 1) & TW.Mask;
            flags.Set(FlagOperation.Decrement, TW.Bytes, a, 1, r, flags.Carry ? 1UL : 0);
            return r;
        }
    }

    private readonly struct NegOperation : IUnaryOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a) where TW : struct, IOperandWidth
        {
            ulong r = (0 - a) & TW.Mask;
            flags.Set(FlagOperation.Negate, TW.Bytes, a, 0, r);
            return r;
        }
    }

    private readonly struct NotOperation : IUnaryOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a) where TW : struct, IOperandWidth => ~a & TW.Mask;
    }

    private static nint SpecializeUnary<TOp>(in Instruction i) where TOp : struct, IUnaryOperation =>
        FastOperands.Specializable(i) && i.OpCount == 1 ? FastOperands.ByWidth<UnaryChoice<TOp>>(FastOperands.WidthOf(i, 0), i) : 0;

    private readonly struct UnaryChoice<TOp> : IWidthChoice where TOp : struct, IUnaryOperation
    {
        public static unsafe nint For<TW>(in Instruction i) where TW : struct, IOperandWidth => i.Op0Kind == OpKind.Register
            ? FastOperands.Handler(&UnaryRegister<TOp, TW>)
            : FastOperands.ByAddress<UnaryMemoryChoice<TOp, TW>>(i);
    }

    private readonly struct UnaryMemoryChoice<TOp, TW> : IAddressChoice where TOp : struct, IUnaryOperation where TW : struct, IOperandWidth
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&UnaryMemory<TOp, TW, TA>);
    }

    private static void UnaryRegister<TOp, TW>(CpuCore cpu, ref Instruction i) where TOp : struct, IUnaryOperation where TW : struct, IOperandWidth
    {
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        destination = TW.Merge(destination, TOp.Apply<TW>(ref cpu.Flags, destination & TW.Mask));
    }

    private static void UnaryMemory<TOp, TW, TA>(CpuCore cpu, ref Instruction i)
        where TOp : struct, IUnaryOperation where TW : struct, IOperandWidth where TA : struct, IAddressForm
    {
        ulong address = TA.Compute(cpu, i);
        ulong a = cpu.Memory.Read(address, TW.Bytes);
        var flags = cpu.Flags;
        cpu.Memory.Write(address, TW.Bytes, TOp.Apply<TW>(ref flags, a));
        cpu.Flags = flags;
    }
}
