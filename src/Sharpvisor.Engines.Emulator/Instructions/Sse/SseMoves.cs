using System.Runtime.Intrinsics;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Instructions.Sse.XmmOperands;

namespace Sharpvisor.Engines.Emulator.Instructions.Sse;

/// <summary>
/// SSE/SSE2 data movement: whole-register moves (aligned and unaligned, non-temporal), MOVD/MOVQ to and from
/// general registers, scalar MOVSS/MOVSD, half-register MOVLPx/MOVHPx/MOVHLPS/MOVLHPS, the mask extractions
/// (MOVMSKPx, PMOVMSKB), PEXTRW/PINSRW and LDMXCSR/STMXCSR.
/// </summary>
public static class SseMoves
{
    /// <summary>MXCSR bits a guest may set (DAZ included); setting any other raises #GP.</summary>
    public const uint MxcsrWritableMask = 0xFFFF;

    public static unsafe void Register(InstructionTable t)
    {
        foreach (var code in new[] { Code.Movdqa_xmm_xmmm128, Code.Movdqa_xmmm128_xmm, Code.Movaps_xmm_xmmm128, Code.Movaps_xmmm128_xmm,
                     Code.Movapd_xmm_xmmm128, Code.Movapd_xmmm128_xmm, Code.Movntps_m128_xmm, Code.Movntpd_m128_xmm, Code.Movntdq_m128_xmm })
            t.Set(code, &MoveAligned);
        foreach (var code in new[] { Code.Movdqu_xmm_xmmm128, Code.Movdqu_xmmm128_xmm, Code.Movups_xmm_xmmm128, Code.Movups_xmmm128_xmm,
                     Code.Movupd_xmm_xmmm128, Code.Movupd_xmmm128_xmm })
            t.Set(code, &MoveUnaligned);
        t.Set(Code.Movd_xmm_rm32, &MoveGeneralToXmm);
        t.Set(Code.Movq_xmm_rm64, &MoveGeneralToXmm);
        t.Set(Code.Movd_rm32_xmm, &MoveXmmToGeneral);
        t.Set(Code.Movq_rm64_xmm, &MoveXmmToGeneral);
        t.Set(Code.Movq_xmm_xmmm64, &MoveQuadwordZeroExtended);
        t.Set(Code.Movq_xmmm64_xmm, &MoveQuadwordZeroExtended);
        t.Set(Code.Movss_xmm_xmmm32, &MoveScalarSingle);
        t.Set(Code.Movss_xmmm32_xmm, &MoveScalarSingle);
        t.Set(Code.Movsd_xmm_xmmm64, &MoveScalarDouble);
        t.Set(Code.Movsd_xmmm64_xmm, &MoveScalarDouble);
        t.Set(Code.Movlps_xmm_m64, &LoadLow);
        t.Set(Code.Movlpd_xmm_m64, &LoadLow);
        t.Set(Code.Movhps_xmm_m64, &LoadHigh);
        t.Set(Code.Movhpd_xmm_m64, &LoadHigh);
        t.Set(Code.Movlps_m64_xmm, &StoreLow);
        t.Set(Code.Movlpd_m64_xmm, &StoreLow);
        t.Set(Code.Movhps_m64_xmm, &StoreHigh);
        t.Set(Code.Movhpd_m64_xmm, &StoreHigh);
        t.Set(Code.Movhlps_xmm_xmm, &Movhlps);
        t.Set(Code.Movlhps_xmm_xmm, &Movlhps);
        t.Set(Code.Movmskps_r32_xmm, &Movmskps);
        t.Set(Code.Movmskps_r64_xmm, &Movmskps);
        t.Set(Code.Movmskpd_r32_xmm, &Movmskpd);
        t.Set(Code.Movmskpd_r64_xmm, &Movmskpd);
        t.Set(Code.Pmovmskb_r32_xmm, &Pmovmskb);
        t.Set(Code.Pmovmskb_r64_xmm, &Pmovmskb);
        t.Set(Code.Pextrw_r32_xmm_imm8, &Pextrw);
        t.Set(Code.Pextrw_r64_xmm_imm8, &Pextrw);
        t.Set(Code.Pinsrw_xmm_r32m16_imm8, &Pinsrw);
        t.Set(Code.Pinsrw_xmm_r64m16_imm8, &Pinsrw);
        t.Set(Code.Ldmxcsr_m32, &Ldmxcsr);
        t.Set(Code.Stmxcsr_m32, &Stmxcsr);
    }

    private static void MoveAligned(CpuCore cpu, ref Instruction i) => Write128(cpu, i, 0, Read128(cpu, i, 1), aligned: true);

    private static void MoveUnaligned(CpuCore cpu, ref Instruction i) => Write128(cpu, i, 0, Read128(cpu, i, 1, aligned: false), aligned: false);

    private static void MoveGeneralToXmm(CpuCore cpu, ref Instruction i)
    {
        int width = Operands.Width(i, 1);
        ulong value = Operands.Read(cpu, i, 1, width);
        ref var destination = ref Xmm(cpu, i, 0);
        destination.Low = value;
        destination.High = 0;
    }

    private static void MoveXmmToGeneral(CpuCore cpu, ref Instruction i)
    {
        int width = Operands.Width(i, 0);
        Operands.Write(cpu, i, 0, width, Xmm(cpu, i, 1).Low & Operands.Mask(width));
    }

    private static void MoveQuadwordZeroExtended(CpuCore cpu, ref Instruction i)
    {
        ulong value = Read64(cpu, i, 1);
        if (IsRegister(i, 0))
        {
            ref var destination = ref Xmm(cpu, i, 0);
            destination.Low = value;
            destination.High = 0;
        }
        else cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 8, value);
    }

    /// <summary>Register to register merges the low element; a load zeroes the rest; a store writes the element.</summary>
    private static void MoveScalarSingle(CpuCore cpu, ref Instruction i)
    {
        if (!IsRegister(i, 0))
        {
            cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 4, (uint)Xmm(cpu, i, 1).Low);
            return;
        }
        uint value = Read32(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        if (IsRegister(i, 1)) destination.Low = (destination.Low & ~0xFFFF_FFFFUL) | value;
        else
        {
            destination.Low = value;
            destination.High = 0;
        }
    }

    private static void MoveScalarDouble(CpuCore cpu, ref Instruction i)
    {
        if (!IsRegister(i, 0))
        {
            cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 8, Xmm(cpu, i, 1).Low);
            return;
        }
        ulong value = Read64(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        destination.Low = value;
        if (!IsRegister(i, 1)) destination.High = 0;
    }

    private static void LoadLow(CpuCore cpu, ref Instruction i)
    {
        ulong value = Read64(cpu, i, 1);
        Xmm(cpu, i, 0).Low = value;
    }

    private static void LoadHigh(CpuCore cpu, ref Instruction i)
    {
        ulong value = Read64(cpu, i, 1);
        Xmm(cpu, i, 0).High = value;
    }

    private static void StoreLow(CpuCore cpu, ref Instruction i) =>
        cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 8, Xmm(cpu, i, 1).Low);

    private static void StoreHigh(CpuCore cpu, ref Instruction i) =>
        cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 8, Xmm(cpu, i, 1).High);

    private static void Movhlps(CpuCore cpu, ref Instruction i) => Xmm(cpu, i, 0).Low = Xmm(cpu, i, 1).High;

    private static void Movlhps(CpuCore cpu, ref Instruction i) => Xmm(cpu, i, 0).High = Xmm(cpu, i, 1).Low;

    private static void Movmskps(CpuCore cpu, ref Instruction i)
    {
        var s = Xmm(cpu, i, 1);
        ulong mask = ((s.Low >> 31) & 1) | ((s.Low >> 62) & 2) | ((s.High >> 29) & 4) | ((s.High >> 60) & 8);
        Operands.WriteRegister(cpu, i.Op0Register, mask);
    }

    private static void Movmskpd(CpuCore cpu, ref Instruction i)
    {
        var s = Xmm(cpu, i, 1);
        Operands.WriteRegister(cpu, i.Op0Register, (s.Low >> 63) | ((s.High >> 62) & 2));
    }

    private static void Pmovmskb(CpuCore cpu, ref Instruction i)
    {
        var s = Xmm(cpu, i, 1);
        Operands.WriteRegister(cpu, i.Op0Register, XmmVectors.ToVector(s).ExtractMostSignificantBits());
    }

    private static void Pextrw(CpuCore cpu, ref Instruction i)
    {
        var s = Xmm(cpu, i, 1);
        int index = i.Immediate8 & 7;
        ulong half = index < 4 ? s.Low : s.High;
        Operands.WriteRegister(cpu, i.Op0Register, (half >> ((index & 3) * 16)) & 0xFFFF);
    }

    private static void Pinsrw(CpuCore cpu, ref Instruction i)
    {
        ulong word = (IsRegister(i, 1) ? Operands.ReadRegister(cpu, i.Op1Register) : cpu.Memory.Read(Operands.EffectiveAddress(cpu, i), 2)) & 0xFFFF;
        int index = i.Immediate8 & 7;
        ref var d = ref Xmm(cpu, i, 0);
        ref ulong half = ref index < 4 ? ref d.Low : ref d.High;
        int shift = (index & 3) * 16;
        half = (half & ~(0xFFFFUL << shift)) | (word << shift);
    }

    private static void Ldmxcsr(CpuCore cpu, ref Instruction i)
    {
        uint value = (uint)cpu.Memory.Read(Operands.EffectiveAddress(cpu, i), 4);
        if ((value & ~MxcsrWritableMask) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
        cpu.Mxcsr = value;
    }

    private static void Stmxcsr(CpuCore cpu, ref Instruction i) => cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 4, cpu.Mxcsr);
}
