using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR. The count is masked to 5 bits (6 for 64-bit operands); a masked count of 0 changes no flag.</summary>
public static unsafe class ShiftsAndRotates
{
    public static void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Shl, &Shl);
        table.SetAllGeneralForms(Mnemonic.Sal, &Shl);
        table.SetAllGeneralForms(Mnemonic.Shr, &Shr);
        table.SetAllGeneralForms(Mnemonic.Sar, &Sar);
        table.SetAllGeneralForms(Mnemonic.Rol, &Rol);
        table.SetAllGeneralForms(Mnemonic.Ror, &Ror);
        table.SetAllGeneralForms(Mnemonic.Rcl, &Rcl);
        table.SetAllGeneralForms(Mnemonic.Rcr, &Rcr);
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
    private static void SetCarryAndOverflow(CpuCore cpu, bool carry, bool overflow)
    {
        ulong bits = cpu.Flags.ToBits() & ~(LazyFlags.CarryBit | LazyFlags.OverflowBit);
        if (carry) bits |= LazyFlags.CarryBit;
        if (overflow) bits |= LazyFlags.OverflowBit;
        cpu.Flags.Load(bits);
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
}
