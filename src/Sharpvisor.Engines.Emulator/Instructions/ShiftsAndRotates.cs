using System.Runtime.CompilerServices;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR. The count is masked to 5 bits (6 for 64-bit operands); a masked count of 0 changes no flag.</summary>
public static class ShiftsAndRotates
{
    public static unsafe void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Shl, &Shl);
        table.SetAllGeneralForms(Mnemonic.Sal, &Shl);
        table.SetAllGeneralForms(Mnemonic.Shr, &Shr);
        table.SetAllGeneralForms(Mnemonic.Sar, &Sar);
        table.SetAllGeneralForms(Mnemonic.Rol, &Rol);
        table.SetAllGeneralForms(Mnemonic.Ror, &Ror);
        table.SetAllGeneralForms(Mnemonic.Rcl, &Rcl);
        table.SetAllGeneralForms(Mnemonic.Rcr, &Rcr);

        table.SetAllGeneralSpecializers(Mnemonic.Shl, &SpecializeShift<ShiftLeft>);
        table.SetAllGeneralSpecializers(Mnemonic.Sal, &SpecializeShift<ShiftLeft>);
        table.SetAllGeneralSpecializers(Mnemonic.Shr, &SpecializeShift<ShiftRightLogical>);
        table.SetAllGeneralSpecializers(Mnemonic.Sar, &SpecializeShift<ShiftRightArithmetic>);
        table.SetAllGeneralSpecializers(Mnemonic.Rol, &SpecializeShift<RotateLeft>);
        table.SetAllGeneralSpecializers(Mnemonic.Ror, &SpecializeShift<RotateRight>);
    }

    private static int Count(CpuCore cpu, in Instruction i, int width) => (int)(Read(cpu, i, 1, 1) & (width == 8 ? 0x3Fu : 0x1Fu));

    private static void Shl(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), count = Count(cpu, i, w);
        ulong a = Read(cpu, i, 0, w);
        ulong r = count >= 64 ? 0 : (a << count) & Mask(w);
        Write(cpu, i, 0, w, r);
        if (count != 0) cpu.Flags.Set(FlagOperation.ShiftLeft, w, a, (ulong)count, r);
    }

    private static void Shr(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), count = Count(cpu, i, w);
        ulong a = Read(cpu, i, 0, w);
        ulong r = count >= 64 ? 0 : a >> count;
        Write(cpu, i, 0, w, r);
        if (count != 0) cpu.Flags.Set(FlagOperation.ShiftRightLogical, w, a, (ulong)count, r);
    }

    private static void Sar(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), count = Count(cpu, i, w);
        ulong a = Read(cpu, i, 0, w);
        ulong r = (ulong)((long)SignExtend(a, w) >> Math.Min(count, 63)) & Mask(w);
        Write(cpu, i, 0, w, r);
        if (count != 0) cpu.Flags.Set(FlagOperation.ShiftRightArithmetic, w, a, (ulong)count, r);
    }

    // Rotates change only CF and OF: the other flags are materialized first and kept.
    private static void SetCarryAndOverflow(CpuCore cpu, bool carry, bool overflow) => SetCarryAndOverflow(ref cpu.Flags, carry, overflow);

    private static void SetCarryAndOverflow(ref LazyFlags flags, bool carry, bool overflow)
    {
        ulong bits = flags.ToBits() & ~(LazyFlags.CarryBit | LazyFlags.OverflowBit);
        if (carry) bits |= LazyFlags.CarryBit;
        if (overflow) bits |= LazyFlags.OverflowBit;
        flags.Load(bits);
    }

    private static void Rol(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), bits = w * 8, masked = Count(cpu, i, w);
        ulong a = Read(cpu, i, 0, w);
        int count = masked % bits;
        ulong r = count == 0 ? a : ((a << count) | (a >> (bits - count))) & Mask(w);
        Write(cpu, i, 0, w, r);
        if (masked == 0) return;
        bool carry = (r & 1) != 0;
        SetCarryAndOverflow(cpu, carry, ((r >> (bits - 1)) & 1) != 0 ^ carry);
    }

    private static void Ror(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), bits = w * 8, masked = Count(cpu, i, w);
        ulong a = Read(cpu, i, 0, w);
        int count = masked % bits;
        ulong r = count == 0 ? a : ((a >> count) | (a << (bits - count))) & Mask(w);
        Write(cpu, i, 0, w, r);
        if (masked == 0) return;
        bool top = ((r >> (bits - 1)) & 1) != 0, next = ((r >> (bits - 2)) & 1) != 0;
        SetCarryAndOverflow(cpu, top, top ^ next);
    }

    // RCL/RCR rotate through CF: a (width+1)-bit rotation, with the count taken modulo width+1 for 8- and 16-bit operands.
    private static void Rcl(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), bits = w * 8, masked = Count(cpu, i, w);
        int count = w <= 2 ? masked % (bits + 1) : masked;
        ulong value = Read(cpu, i, 0, w);
        bool carry = cpu.Flags.Carry;
        for (int k = 0; k < count; k++)
        {
            bool outBit = ((value >> (bits - 1)) & 1) != 0;
            value = ((value << 1) | (carry ? 1UL : 0)) & Mask(w);
            carry = outBit;
        }
        Write(cpu, i, 0, w, value);
        if (masked == 0) return;
        SetCarryAndOverflow(cpu, carry, ((value >> (bits - 1)) & 1) != 0 ^ carry);
    }

    private static void Rcr(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), bits = w * 8, masked = Count(cpu, i, w);
        int count = w <= 2 ? masked % (bits + 1) : masked;
        ulong value = Read(cpu, i, 0, w);
        bool carry = cpu.Flags.Carry;
        bool overflow = (((value >> (bits - 1)) & 1) != 0) ^ carry; // OF for a count of 1: old MSB xor old CF
        for (int k = 0; k < count; k++)
        {
            bool outBit = (value & 1) != 0;
            value = (value >> 1) | (carry ? 1UL << (bits - 1) : 0);
            carry = outBit;
        }
        Write(cpu, i, 0, w, value);
        if (masked == 0) return;
        SetCarryAndOverflow(cpu, carry, overflow);
    }

    // Specialized forms (64-bit mode) of SHL/SHR/SAR/ROL/ROR, bit for bit the generic handlers: the result is written even for
    // a count of 0 (a 32-bit register destination then loses its upper half), and the flags change only for a count
    // other than 0.

    private interface IShift
    {
        /// <summary>The result for a masked count, and the flags for a count other than 0.</summary>
        static abstract ulong Apply<TW>(ref LazyFlags flags, ulong a, int count) where TW : struct, IOperandWidth;
    }

    private readonly struct ShiftLeft : IShift
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, int count) where TW : struct, IOperandWidth
        {
            ulong r = (a << count) & TW.Mask; // count <= 63 after masking
            if (count != 0) flags.Set(FlagOperation.ShiftLeft, TW.Bytes, a, (ulong)count, r);
            return r;
        }
    }

    private readonly struct ShiftRightLogical : IShift
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, int count) where TW : struct, IOperandWidth
        {
            ulong r = a >> count;
            if (count != 0) flags.Set(FlagOperation.ShiftRightLogical, TW.Bytes, a, (ulong)count, r);
            return r;
        }
    }

    private readonly struct ShiftRightArithmetic : IShift
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, int count) where TW : struct, IOperandWidth
        {
            ulong r = (ulong)((long)TW.SignExtend(a) >> count) & TW.Mask;
            if (count != 0) flags.Set(FlagOperation.ShiftRightArithmetic, TW.Bytes, a, (ulong)count, r);
            return r;
        }
    }

    private readonly struct RotateLeft : IShift
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, int masked) where TW : struct, IOperandWidth
        {
            int bits = TW.Bytes * 8, count = masked & (bits - 1); // the width is a power of two: masked % bits
            ulong r = count == 0 ? a : ((a << count) | (a >> (bits - count))) & TW.Mask;
            if (masked != 0)
            {
                bool carry = (r & 1) != 0;
                SetCarryAndOverflow(ref flags, carry, ((r >> (bits - 1)) & 1) != 0 ^ carry);
            }
            return r;
        }
    }

    private readonly struct RotateRight : IShift
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Apply<TW>(ref LazyFlags flags, ulong a, int masked) where TW : struct, IOperandWidth
        {
            int bits = TW.Bytes * 8, count = masked & (bits - 1);
            ulong r = count == 0 ? a : ((a >> count) | (a << (bits - count))) & TW.Mask;
            if (masked != 0)
            {
                bool top = ((r >> (bits - 1)) & 1) != 0, next = ((r >> (bits - 2)) & 1) != 0;
                SetCarryAndOverflow(ref flags, top, top ^ next);
            }
            return r;
        }
    }

    /// <summary>Where the count comes from: the instruction (imm8, or the implicit 1) or CL.</summary>
    private interface IShiftCount
    {
        static abstract int Read(CpuCore cpu, in Instruction i);
    }

    private readonly struct ImmediateCount : IShiftCount
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Read(CpuCore cpu, in Instruction i) => i.Immediate8;
    }

    private readonly struct ClCount : IShiftCount
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Read(CpuCore cpu, in Instruction i) => (byte)cpu.Gpr[CpuCore.Rcx];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MaskCount<TW>(int count) where TW : struct, IOperandWidth => count & (TW.Bytes == 8 ? 0x3F : 0x1F);

    private static nint SpecializeShift<TShift>(in Instruction i) where TShift : struct, IShift
    {
        if (i.OpCount != 2) return 0;
        var count = i.Op1Kind;
        if (count == OpKind.Immediate8) return FastOperands.ByWidth<ShiftChoice<TShift, ImmediateCount>>(FastOperands.WidthOf(i, 0), i);
        if (count == OpKind.Register && i.Op1Register == Iced.Intel.Register.CL)
            return FastOperands.ByWidth<ShiftChoice<TShift, ClCount>>(FastOperands.WidthOf(i, 0), i);
        return 0;
    }

    private readonly struct ShiftChoice<TShift, TCount> : IWidthChoice where TShift : struct, IShift where TCount : struct, IShiftCount
    {
        public static unsafe nint For<TW>(in Instruction i) where TW : struct, IOperandWidth => i.Op0Kind == OpKind.Register
            ? FastOperands.Handler(&ShiftRegister<TShift, TCount, TW>)
            : FastOperands.ByAddress<ShiftMemoryChoice<TShift, TCount, TW>>(i);
    }

    private readonly struct ShiftMemoryChoice<TShift, TCount, TW> : IAddressChoice
        where TShift : struct, IShift where TCount : struct, IShiftCount where TW : struct, IOperandWidth
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&ShiftMemory<TShift, TCount, TW, TA>);
    }

    private static void ShiftRegister<TShift, TCount, TW>(CpuCore cpu, ref Instruction i)
        where TShift : struct, IShift where TCount : struct, IShiftCount where TW : struct, IOperandWidth
    {
        int count = MaskCount<TW>(TCount.Read(cpu, i));
        ref ulong destination = ref FastOperands.Gpr<TW>(cpu, i.Op0Register);
        destination = TW.Merge(destination, TShift.Apply<TW>(ref cpu.Flags, destination & TW.Mask, count));
    }

    private static void ShiftMemory<TShift, TCount, TW, TA>(CpuCore cpu, ref Instruction i)
        where TShift : struct, IShift where TCount : struct, IShiftCount where TW : struct, IOperandWidth where TA : struct, IAddressForm
    {
        int count = MaskCount<TW>(TCount.Read(cpu, i));
        ulong address = TA.Compute(cpu, i);
        ulong a = cpu.Memory.Read(address, TW.Bytes);
        var flags = cpu.Flags;
        cpu.Memory.Write(address, TW.Bytes, TShift.Apply<TW>(ref flags, a, count));
        cpu.Flags = flags;
    }
}
