using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// BT, BTS, BTR, BTC, BSF, BSR, SHLD, SHRD. A register bit offset with a memory operand is a signed index into a
/// bit string that starts at the operand's address, so it may reach bytes far before or after the operand; an
/// immediate offset (and any offset with a register operand) is taken modulo the operand width.
/// </summary>
public static class BitInstructions
{
    public static unsafe void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Bt, &Bt);
        table.SetAllGeneralForms(Mnemonic.Bts, &Bts);
        table.SetAllGeneralForms(Mnemonic.Btr, &Btr);
        table.SetAllGeneralForms(Mnemonic.Btc, &Btc);
        table.SetAllGeneralForms(Mnemonic.Bsf, &Bsf);
        table.SetAllGeneralForms(Mnemonic.Bsr, &Bsr);
        table.SetAllGeneralForms(Mnemonic.Shld, &Shld);
        table.SetAllGeneralForms(Mnemonic.Shrd, &Shrd);
    }

    private const int Test = 0, SetBit = 1, ResetBit = 2, Complement = 3;

    private static void Bt(CpuCore cpu, ref Instruction i) => BitTest(cpu, ref i, Test);
    private static void Bts(CpuCore cpu, ref Instruction i) => BitTest(cpu, ref i, SetBit);
    private static void Btr(CpuCore cpu, ref Instruction i) => BitTest(cpu, ref i, ResetBit);
    private static void Btc(CpuCore cpu, ref Instruction i) => BitTest(cpu, ref i, Complement);

    // CF takes the selected bit; ZF is unchanged; OF SF AF PF are undefined (we keep them).
    private static void BitTest(CpuCore cpu, ref Instruction i, int operation)
    {
        int w = Width(i, 0), bits = w * 8;
        ulong offset = Read(cpu, i, 1, w);
        int bit;
        ulong value;
        if (i.Op0Kind == OpKind.Memory && i.Op1Kind == OpKind.Register)
        {
            long signedOffset = (long)SignExtend(offset, w);
            bit = (int)(signedOffset & (bits - 1));
            ulong address = EffectiveAddress(cpu, i) + (ulong)((signedOffset >> (w switch { 2 => 4, 4 => 5, _ => 6 })) * w);
            value = cpu.Memory.Read(address, w);
            bool carry = ((value >> bit) & 1) != 0;
            if (operation != Test) cpu.Memory.Write(address, w, Apply(operation, value, bit));
            SetCarry(cpu, carry);
            return;
        }
        bit = (int)(offset & (ulong)(bits - 1));
        value = Read(cpu, i, 0, w);
        bool selected = ((value >> bit) & 1) != 0;
        if (operation != Test) Write(cpu, i, 0, w, Apply(operation, value, bit));
        SetCarry(cpu, selected);
    }

    private static ulong Apply(int operation, ulong value, int bit) => operation switch
    {
        SetBit => value | (1UL << bit),
        ResetBit => value & ~(1UL << bit),
        _ => value ^ (1UL << bit),
    };

    private static void SetCarry(CpuCore cpu, bool carry)
    {
        ulong flags = cpu.Flags.ToBits() & ~LazyFlags.CarryBit;
        cpu.Flags.Load(carry ? flags | LazyFlags.CarryBit : flags);
    }

    // BSF/BSR: ZF = source is zero, and then the destination is left as it was (AMD documents it, Intel CPUs do it).
    private static void Bsf(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong source = Read(cpu, i, 1, w);
        if (source != 0) Write(cpu, i, 0, w, (ulong)System.Numerics.BitOperations.TrailingZeroCount(source));
        SetZero(cpu, source == 0);
    }

    private static void Bsr(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong source = Read(cpu, i, 1, w);
        if (source != 0) Write(cpu, i, 0, w, (ulong)(63 - System.Numerics.BitOperations.LeadingZeroCount(source)));
        SetZero(cpu, source == 0);
    }

    private static void SetZero(CpuCore cpu, bool zero)
    {
        ulong flags = cpu.Flags.ToBits() & ~LazyFlags.ZeroBit;
        cpu.Flags.Load(zero ? flags | LazyFlags.ZeroBit : flags);
    }

    private static int ShiftCount(CpuCore cpu, in Instruction i, int width) =>
        (int)(Read(cpu, i, 2, 1) & (width == 8 ? 0x3Fu : 0x1Fu));

    // SHLD dst, src, n: dst shifted left by n with src's top bits coming in. For a 16-bit operand a count above 16
    // is undefined; we shift the 48-bit string dst:src:src as AMD CPUs do (Intel's give dst:src:dst). A count of 0
    // changes nothing, except that a 32-bit register destination is still written (upper half cleared), as on AMD.
    private static void Shld(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), bits = w * 8, count = ShiftCount(cpu, i, w);
        if (count == 0) { ClearUpperHalf(cpu, i, w); return; }
        ulong dst = Read(cpu, i, 0, w), src = Read(cpu, i, 1, w);
        ulong result;
        bool carry;
        if (w == 2)
        {
            ulong chain = (dst << 32) | (src << 16) | src;
            result = (chain << count >> 32) & 0xFFFF;
            carry = ((chain >> (48 - count)) & 1) != 0;
        }
        else
        {
            result = ((dst << count) | (src >> (bits - count))) & Mask(w);
            carry = ((dst >> (bits - count)) & 1) != 0;
        }
        Write(cpu, i, 0, w, result);
        SetShiftFlags(cpu, w, result, carry, ((result ^ dst) >> (bits - 1) & 1) != 0);
    }

    private static void Shrd(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0), bits = w * 8, count = ShiftCount(cpu, i, w);
        if (count == 0) { ClearUpperHalf(cpu, i, w); return; }
        ulong dst = Read(cpu, i, 0, w), src = Read(cpu, i, 1, w);
        ulong result;
        bool carry;
        if (w == 2)
        {
            ulong chain = (src << 32) | (src << 16) | dst; // mirror of SHLD's string: src:src:dst
            result = (chain >> count) & 0xFFFF;
            carry = ((chain >> (count - 1)) & 1) != 0;
        }
        else
        {
            result = ((dst >> count) | (src << (bits - count))) & Mask(w);
            carry = ((dst >> (count - 1)) & 1) != 0;
        }
        Write(cpu, i, 0, w, result);
        SetShiftFlags(cpu, w, result, carry, ((result ^ dst) >> (bits - 1) & 1) != 0);
    }

    private static void ClearUpperHalf(CpuCore cpu, in Instruction i, int width)
    {
        if (width == 4 && i.Op0Kind == OpKind.Register) WriteRegister(cpu, i.Op0Register, ReadRegister(cpu, i.Op0Register));
    }

    /// <summary>CF as given, OF = the sign changed (defined for a count of 1), SF ZF PF from the result, AF 0.</summary>
    private static void SetShiftFlags(CpuCore cpu, int width, ulong result, bool carry, bool overflow)
    {
        ulong flags = 0;
        if (carry) flags |= LazyFlags.CarryBit;
        if (overflow) flags |= LazyFlags.OverflowBit;
        if (result == 0) flags |= LazyFlags.ZeroBit;
        if (((result >> (width * 8 - 1)) & 1) != 0) flags |= LazyFlags.SignBit;
        if ((System.Numerics.BitOperations.PopCount(result & 0xFF) & 1) == 0) flags |= LazyFlags.ParityBit;
        cpu.Flags.Load(flags);
    }
}
