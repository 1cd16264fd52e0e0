using System.Runtime.CompilerServices;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>MOV and its extending forms, LEA, XCHG, PUSH, POP, the sign-extension family, BSWAP, CMOVcc, SETcc, NOP.</summary>
public static class DataMovement
{
    public static unsafe void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Mov, &Mov);
        table.SetAllGeneralForms(Mnemonic.Movzx, &Movzx);
        table.SetAllGeneralForms(Mnemonic.Movsx, &Movsx);
        table.SetAllGeneralForms(Mnemonic.Movsxd, &Movsx);
        table.SetAllGeneralForms(Mnemonic.Lea, &Lea);
        table.SetAllGeneralForms(Mnemonic.Xchg, &Xchg);
        table.SetAllGeneralForms(Mnemonic.Push, &Push);
        table.SetAllGeneralForms(Mnemonic.Pop, &Pop);
        table.SetAllGeneralForms(Mnemonic.Cbw, &SignExtendAccumulator);
        table.SetAllGeneralForms(Mnemonic.Cwde, &SignExtendAccumulator);
        table.SetAllGeneralForms(Mnemonic.Cdqe, &SignExtendAccumulator);
        table.SetAllGeneralForms(Mnemonic.Cwd, &SignExtendIntoRdx);
        table.SetAllGeneralForms(Mnemonic.Cdq, &SignExtendIntoRdx);
        table.SetAllGeneralForms(Mnemonic.Cqo, &SignExtendIntoRdx);
        table.SetAllGeneralForms(Mnemonic.Bswap, &Bswap);
        table.SetAllGeneralForms(Mnemonic.Nop, &Nop);
        table.SetAllGeneralForms(Mnemonic.Pause, &Nop);
        table.SetAllGeneralForms(Mnemonic.Ud2, &Ud2);
        table.SetAllGeneralForms(Mnemonic.Ud0, &Ud2);
        table.SetAllGeneralForms(Mnemonic.Ud1, &Ud2);
        foreach (var m in new[] { Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne,
                     Mnemonic.Cmovbe, Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp,
                     Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg })
            table.SetAllGeneralForms(m, &Cmov);
        foreach (var m in new[] { Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne,
                     Mnemonic.Setbe, Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp,
                     Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg })
            table.SetAllGeneralForms(m, &Set);

        table.SetAllGeneralSpecializers(Mnemonic.Mov, &SpecializeMov);
        table.SetAllGeneralSpecializers(Mnemonic.Movzx, &SpecializeExtend<ZeroExtension>);
        table.SetAllGeneralSpecializers(Mnemonic.Movsx, &SpecializeExtend<SignExtension>);
        table.SetAllGeneralSpecializers(Mnemonic.Movsxd, &SpecializeExtend<SignExtension>);
        table.SetAllGeneralSpecializers(Mnemonic.Lea, &SpecializeLea);
        table.SetAllGeneralSpecializers(Mnemonic.Push, &SpecializePush);
        table.SetAllGeneralSpecializers(Mnemonic.Pop, &SpecializePop);
        foreach (var m in new[] { Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne,
                     Mnemonic.Cmovbe, Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp,
                     Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg })
            table.SetAllGeneralSpecializers(m, &SpecializeCmov);
        foreach (var m in new[] { Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne,
                     Mnemonic.Setbe, Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp,
                     Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg })
            table.SetAllGeneralSpecializers(m, &SpecializeSet);
    }

    private static void Mov(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        Write(cpu, i, 0, w, Read(cpu, i, 1, w));
    }

    private static void Movzx(CpuCore cpu, ref Instruction i) => Write(cpu, i, 0, Width(i, 0), Read(cpu, i, 1, Width(i, 1)));

    private static void Movsx(CpuCore cpu, ref Instruction i)
    {
        int source = Width(i, 1), destination = Width(i, 0);
        Write(cpu, i, 0, destination, SignExtend(Read(cpu, i, 1, source), source) & Mask(destination));
    }

    private static void Lea(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        Write(cpu, i, 0, w, EffectiveAddress(cpu, i, withSegmentBase: false) & Mask(w));
    }

    private static void Xchg(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), b = Read(cpu, i, 1, w);
        Write(cpu, i, 1, w, a);
        Write(cpu, i, 0, w, b);
    }

    private static void Push(CpuCore cpu, ref Instruction i)
    {
        int w = -i.StackPointerIncrement;
        Stack.Push(cpu, Read(cpu, i, 0, w), w);
    }

    private static void Pop(CpuCore cpu, ref Instruction i)
    {
        int w = i.StackPointerIncrement;
        ulong value = Stack.Pop(cpu, w);
        Write(cpu, i, 0, w, value); // a memory destination addressed by RSP sees the incremented RSP, as on hardware
    }

    // CBW/CWDE/CDQE: AL->AX, AX->EAX, EAX->RAX.
    private static void SignExtendAccumulator(CpuCore cpu, ref Instruction i)
    {
        var (from, to) = i.Mnemonic switch { Mnemonic.Cbw => (1, 2), Mnemonic.Cwde => (2, 4), _ => (4, 8) };
        ulong value = SignExtend(cpu.Gpr[CpuCore.Rax] & Mask(from), from) & Mask(to);
        WriteRegister(cpu, to switch { 2 => Iced.Intel.Register.AX, 4 => Iced.Intel.Register.EAX, _ => Iced.Intel.Register.RAX }, value);
    }

    // CWD/CDQ/CQO: the sign of AX/EAX/RAX fills DX/EDX/RDX.
    private static void SignExtendIntoRdx(CpuCore cpu, ref Instruction i)
    {
        var (width, rdx) = i.Mnemonic switch
        {
            Mnemonic.Cwd => (2, Iced.Intel.Register.DX), Mnemonic.Cdq => (4, Iced.Intel.Register.EDX), _ => (8, Iced.Intel.Register.RDX),
        };
        bool negative = ((cpu.Gpr[CpuCore.Rax] >> (width * 8 - 1)) & 1) != 0;
        WriteRegister(cpu, rdx, negative ? Mask(width) : 0);
    }

    private static void Bswap(CpuCore cpu, ref Instruction i)
    {
        var register = i.Op0Register;
        ulong value = ReadRegister(cpu, register);
        WriteRegister(cpu, register, RegisterWidth(register) switch
        {
            8 => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(value),
            4 => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)value),
            _ => 0, // BSWAP of a 16-bit register is undefined; processors give 0
        });
    }

    private static void Nop(CpuCore cpu, ref Instruction i) { }

    private static void Ud2(CpuCore cpu, ref Instruction i) => throw new GuestFault(GuestFault.InvalidOpcode);

    private static void Cmov(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong source = Read(cpu, i, 1, w); // read (and fault) whether or not the condition holds, as hardware does
        if (cpu.Flags.Holds(i.ConditionCode)) Write(cpu, i, 0, w, source);
        else if (w == 4) Write(cpu, i, 0, w, Read(cpu, i, 0, w)); // a 32-bit CMOV clears the upper half either way
    }

    private static void Set(CpuCore cpu, ref Instruction i) => Write(cpu, i, 0, 1, cpu.Flags.Holds(i.ConditionCode) ? 1UL : 0);

    // Specialized forms (64-bit mode), bit for bit the generic handlers above with the operand shape fixed at decode time.

    private static nint SpecializeMov(in Instruction i) =>
        FastOperands.Specializable(i) && i.OpCount == 2 ? FastOperands.ByWidth<MovChoice>(FastOperands.WidthOf(i, 0), i) : 0;

    private readonly struct MovChoice : IWidthChoice
    {
        public static unsafe nint For<TW>(in Instruction i) where TW : struct, IOperandWidth
        {
            var source = i.Op1Kind;
            if (i.Op0Kind == OpKind.Register)
            {
                if (source == OpKind.Register)
                    return FastOperands.RegisterWidth(i.Op1Register) == TW.Bytes ? FastOperands.Handler(&MovRegisterRegister<TW>) : 0;
                if (source == OpKind.Memory)
                    return FastOperands.WidthOf(i, 1) == TW.Bytes ? FastOperands.ByAddress<MovRegisterMemoryChoice<TW>>(i) : 0;
                return FastOperands.IsImmediate(source) ? FastOperands.ByImmediate<MovRegisterImmediateChoice<TW>>(i, 1, TW.Bytes) : 0;
            }
            if (i.Op0Kind != OpKind.Memory) return 0;
            if (source == OpKind.Register)
                return FastOperands.RegisterWidth(i.Op1Register) == TW.Bytes ? FastOperands.ByAddress<MovMemoryRegisterChoice<TW>>(i) : 0;
            return FastOperands.IsImmediate(source) ? FastOperands.ByAddress<MovMemoryImmediateChoice<TW>>(i) : 0;
        }
    }

    private readonly struct MovRegisterMemoryChoice<TW> : IAddressChoice where TW : struct, IOperandWidth
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&MovRegisterMemory<TW, TA>);
    }

    private readonly struct MovMemoryRegisterChoice<TW> : IAddressChoice where TW : struct, IOperandWidth
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&MovMemoryRegister<TW, TA>);
    }

    private readonly struct MovRegisterImmediateChoice<TW> : IImmediateChoice where TW : struct, IOperandWidth
    {
        public static unsafe nint For<TI>(in Instruction i) where TI : struct, IImmediate => FastOperands.Handler(&MovRegisterImmediate<TW, TI>);
    }

    private readonly struct MovMemoryImmediateChoice<TW> : IAddressChoice where TW : struct, IOperandWidth
    {
        public static nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.ByImmediate<MovMemoryImmediateChoice<TW, TA>>(i, 1, TW.Bytes);
    }

    private readonly struct MovMemoryImmediateChoice<TW, TA> : IImmediateChoice where TW : struct, IOperandWidth where TA : struct, IAddressForm
    {
        public static unsafe nint For<TI>(in Instruction i) where TI : struct, IImmediate => FastOperands.Handler(&MovMemoryImmediate<TW, TA, TI>);
    }

    private static void MovRegisterRegister<TW>(CpuCore cpu, ref Instruction i) where TW : struct, IOperandWidth
    {
        ulong value = FastOperands.Gpr<TW>(cpu, i.Op1Register);
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        destination = TW.Merge(destination, value & TW.Mask);
    }

    private static void MovRegisterImmediate<TW, TI>(CpuCore cpu, ref Instruction i) where TW : struct, IOperandWidth where TI : struct, IImmediate
    {
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        destination = TW.Merge(destination, TI.Read(i) & TW.Mask);
    }

    private static void MovRegisterMemory<TW, TA>(CpuCore cpu, ref Instruction i) where TW : struct, IOperandWidth where TA : struct, IAddressForm
    {
        ulong value = cpu.Memory.Read(TA.Compute(cpu, i), TW.Bytes);
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        destination = TW.Merge(destination, value);
    }

    private static void MovMemoryRegister<TW, TA>(CpuCore cpu, ref Instruction i) where TW : struct, IOperandWidth where TA : struct, IAddressForm =>
        cpu.Memory.Write(TA.Compute(cpu, i), TW.Bytes, FastOperands.Gpr<TW>(cpu, i.Op1Register) & TW.Mask);

    private static void MovMemoryImmediate<TW, TA, TI>(CpuCore cpu, ref Instruction i)
        where TW : struct, IOperandWidth where TA : struct, IAddressForm where TI : struct, IImmediate =>
        cpu.Memory.Write(TA.Compute(cpu, i), TW.Bytes, TI.Read(i) & TW.Mask);

    /// <summary>MOVZX or MOVSX/MOVSXD: how a narrower source becomes the destination's value.</summary>
    private interface IExtension
    {
        static abstract ulong Extend<TSource>(ulong value) where TSource : struct, IOperandWidth;
    }

    private readonly struct ZeroExtension : IExtension
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Extend<TSource>(ulong value) where TSource : struct, IOperandWidth => value & TSource.Mask;
    }

    private readonly struct SignExtension : IExtension
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Extend<TSource>(ulong value) where TSource : struct, IOperandWidth => TSource.SignExtend(value);
    }

    private static nint SpecializeExtend<TExtension>(in Instruction i) where TExtension : struct, IExtension
    {
        if (!FastOperands.Specializable(i) || i.OpCount != 2 || i.Op0Kind != OpKind.Register) return 0;
        int destination = FastOperands.WidthOf(i, 0), source = FastOperands.WidthOf(i, 1);
        if (destination == 0 || source == 0 || source >= destination) return 0;
        return (destination, source) switch
        {
            (2, 1) => ExtendFrom<TExtension, Width2, Width1>(i),
            (4, 1) => ExtendFrom<TExtension, Width4, Width1>(i),
            (4, 2) => ExtendFrom<TExtension, Width4, Width2>(i),
            (8, 1) => ExtendFrom<TExtension, Width8, Width1>(i),
            (8, 2) => ExtendFrom<TExtension, Width8, Width2>(i),
            (8, 4) => ExtendFrom<TExtension, Width8, Width4>(i),
            _ => 0,
        };
    }

    private static unsafe nint ExtendFrom<TExtension, TDestination, TSource>(in Instruction i)
        where TExtension : struct, IExtension where TDestination : struct, IOperandWidth where TSource : struct, IOperandWidth =>
        i.Op1Kind == OpKind.Register
            ? FastOperands.Handler(&ExtendRegister<TExtension, TDestination, TSource>)
            : FastOperands.ByAddress<ExtendMemoryChoice<TExtension, TDestination, TSource>>(i);

    private readonly struct ExtendMemoryChoice<TExtension, TDestination, TSource> : IAddressChoice
        where TExtension : struct, IExtension where TDestination : struct, IOperandWidth where TSource : struct, IOperandWidth
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&ExtendMemory<TExtension, TDestination, TSource, TA>);
    }

    private static void ExtendRegister<TExtension, TDestination, TSource>(CpuCore cpu, ref Instruction i)
        where TExtension : struct, IExtension where TDestination : struct, IOperandWidth where TSource : struct, IOperandWidth
    {
        ulong value = TExtension.Extend<TSource>(FastOperands.Gpr<TSource>(cpu, i.Op1Register));
        ref ulong destination = ref FastOperands.Gpr<TDestination>(cpu, i.Op0Register);
        destination = TDestination.Merge(destination, value & TDestination.Mask);
    }

    private static void ExtendMemory<TExtension, TDestination, TSource, TA>(CpuCore cpu, ref Instruction i)
        where TExtension : struct, IExtension where TDestination : struct, IOperandWidth where TSource : struct, IOperandWidth where TA : struct, IAddressForm
    {
        ulong value = TExtension.Extend<TSource>(cpu.Memory.Read(TA.Compute(cpu, i), TSource.Bytes));
        ref ulong destination = ref FastOperands.Gpr<TDestination>(cpu, i.Op0Register);
        destination = TDestination.Merge(destination, value & TDestination.Mask);
    }

    // LEA ignores the segment: an FS/GS-prefixed LEA stays generic.
    private static nint SpecializeLea(in Instruction i) =>
        i.Op0Kind == OpKind.Register && i.Op1Kind == OpKind.Memory && i.MemorySegment is not (Iced.Intel.Register.FS or Iced.Intel.Register.GS)
            ? FastOperands.ByWidth<LeaChoice>(FastOperands.RegisterWidth(i.Op0Register), i) : 0;

    private readonly struct LeaChoice : IWidthChoice
    {
        public static nint For<TW>(in Instruction i) where TW : struct, IOperandWidth =>
            TW.Bytes >= 2 ? FastOperands.ByAddress<LeaAddressChoice<TW>>(i) : 0;
    }

    private readonly struct LeaAddressChoice<TW> : IAddressChoice where TW : struct, IOperandWidth
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&LeaRegister<TW, TA>);
    }

    private static void LeaRegister<TW, TA>(CpuCore cpu, ref Instruction i) where TW : struct, IOperandWidth where TA : struct, IAddressForm
    {
        ulong address = TA.Compute(cpu, i);
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        destination = TW.Merge(destination, address & TW.Mask);
    }

    // PUSH r64 / imm and POP r64: the 64-bit stack forms only.
    private static unsafe nint SpecializePush(in Instruction i)
    {
        if (i.StackPointerIncrement != -8) return 0;
        if (i.Op0Kind == OpKind.Register) return FastOperands.RegisterWidth(i.Op0Register) == 8 ? FastOperands.Handler(&PushRegister) : 0;
        return FastOperands.ByImmediate<PushImmediateChoice>(i, 0, 8);
    }

    private readonly struct PushImmediateChoice : IImmediateChoice
    {
        public static unsafe nint For<TI>(in Instruction i) where TI : struct, IImmediate => FastOperands.Handler(&PushImmediate<TI>);
    }

    private static void PushRegister(CpuCore cpu, ref Instruction i) => Stack.Push(cpu, FastOperands.Gpr<Width8>(cpu, i.Op0Register));

    private static void PushImmediate<TI>(CpuCore cpu, ref Instruction i) where TI : struct, IImmediate => Stack.Push(cpu, TI.Read(i));

    private static unsafe nint SpecializePop(in Instruction i) =>
        i.StackPointerIncrement == 8 && i.Op0Kind == OpKind.Register && FastOperands.RegisterWidth(i.Op0Register) == 8
            ? FastOperands.Handler(&PopRegister) : 0;

    private static void PopRegister(CpuCore cpu, ref Instruction i)
    {
        ulong value = Stack.Pop(cpu);
        FastOperands.Gpr<Width8>(cpu, i.Op0Register) = value;
    }

    private static nint SpecializeCmov(in Instruction i)
    {
        if (i.Op0Kind != OpKind.Register) return 0;
        int width = FastOperands.RegisterWidth(i.Op0Register);
        return width is 4 or 8 && FastOperands.WidthOf(i, 1) == width ? FastOperands.ByCondition<CmovChoice>(i) : 0;
    }

    private readonly struct CmovChoice : IConditionChoice
    {
        public static nint For<TC>(in Instruction i) where TC : struct, ICondition =>
            FastOperands.RegisterWidth(i.Op0Register) == 8 ? CmovFor<TC, Width8>(i) : CmovFor<TC, Width4>(i);

        private static unsafe nint CmovFor<TC, TW>(in Instruction i) where TC : struct, ICondition where TW : struct, IOperandWidth =>
            i.Op1Kind == OpKind.Register ? FastOperands.Handler(&CmovRegister<TC, TW>) : FastOperands.ByAddress<CmovMemoryChoice<TC, TW>>(i);
    }

    private readonly struct CmovMemoryChoice<TC, TW> : IAddressChoice where TC : struct, ICondition where TW : struct, IOperandWidth
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&CmovMemory<TC, TW, TA>);
    }

    // A 32-bit CMOV writes (so clears the upper half) whether or not the condition holds; Merge does both cases.
    private static void CmovRegister<TC, TW>(CpuCore cpu, ref Instruction i) where TC : struct, ICondition where TW : struct, IOperandWidth
    {
        ulong source = FastOperands.Gpr<TW>(cpu, i.Op1Register);
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        destination = TW.Merge(destination, TC.Holds(cpu.Flags) ? source : destination);
    }

    private static void CmovMemory<TC, TW, TA>(CpuCore cpu, ref Instruction i) where TC : struct, ICondition where TW : struct, IOperandWidth where TA : struct, IAddressForm
    {
        ulong source = cpu.Memory.Read(TA.Compute(cpu, i), TW.Bytes);
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        destination = TW.Merge(destination, TC.Holds(cpu.Flags) ? source : destination);
    }

    private static nint SpecializeSet(in Instruction i) =>
        i.Op0Kind == OpKind.Memory || FastOperands.RegisterWidth(i.Op0Register) == 1 ? FastOperands.ByCondition<SetChoice>(i) : 0;

    private readonly struct SetChoice : IConditionChoice
    {
        public static unsafe nint For<TC>(in Instruction i) where TC : struct, ICondition =>
            i.Op0Kind == OpKind.Register ? FastOperands.Handler(&SetRegister<TC>) : FastOperands.ByAddress<SetMemoryChoice<TC>>(i);
    }

    private readonly struct SetMemoryChoice<TC> : IAddressChoice where TC : struct, ICondition
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&SetMemory<TC, TA>);
    }

    private static void SetRegister<TC>(CpuCore cpu, ref Instruction i) where TC : struct, ICondition
    {
        ref ulong destination = ref FastOperands.Gpr<Width1>(cpu, i.Op0Register);
        destination = Width1.Merge(destination, TC.Holds(cpu.Flags) ? 1UL : 0);
    }

    private static void SetMemory<TC, TA>(CpuCore cpu, ref Instruction i) where TC : struct, ICondition where TA : struct, IAddressForm =>
        cpu.Memory.Write(TA.Compute(cpu, i), 1, TC.Holds(cpu.Flags) ? 1UL : 0);
}
