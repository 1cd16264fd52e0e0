using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Instructions.Sse.XmmOperands;

namespace Sharpvisor.Engines.Emulator.Instructions.Sse;

/// <summary>
/// SSE/SSE2 conversions between signed integers, binary32 and binary64: CVTSI2SS/SD, CVT(T)SS2SI, CVT(T)SD2SI,
/// CVTSS2SD, CVTSD2SS, CVTPS2PD, CVTPD2PS, CVTDQ2PS, CVT(T)PS2DQ, CVTDQ2PD, CVT(T)PD2DQ.
/// </summary>
public static class SseConversions
{
    public static unsafe void Register(InstructionTable t)
    {
        t.Set(Code.Cvtsi2ss_xmm_rm32, &IntegerToSingle);
        t.Set(Code.Cvtsi2ss_xmm_rm64, &IntegerToSingle);
        t.Set(Code.Cvtsi2sd_xmm_rm32, &IntegerToDouble);
        t.Set(Code.Cvtsi2sd_xmm_rm64, &IntegerToDouble);
        t.Set(Code.Cvttss2si_r32_xmmm32, &SingleToIntegerTruncating);
        t.Set(Code.Cvttss2si_r64_xmmm32, &SingleToIntegerTruncating);
        t.Set(Code.Cvtss2si_r32_xmmm32, &SingleToInteger);
        t.Set(Code.Cvtss2si_r64_xmmm32, &SingleToInteger);
        t.Set(Code.Cvttsd2si_r32_xmmm64, &DoubleToIntegerTruncating);
        t.Set(Code.Cvttsd2si_r64_xmmm64, &DoubleToIntegerTruncating);
        t.Set(Code.Cvtsd2si_r32_xmmm64, &DoubleToInteger);
        t.Set(Code.Cvtsd2si_r64_xmmm64, &DoubleToInteger);
        t.Set(Code.Cvtss2sd_xmm_xmmm32, &Cvtss2sd);
        t.Set(Code.Cvtsd2ss_xmm_xmmm64, &Cvtsd2ss);
        t.Set(Code.Cvtps2pd_xmm_xmmm64, &Cvtps2pd);
        t.Set(Code.Cvtpd2ps_xmm_xmmm128, &Cvtpd2ps);
        t.Set(Code.Cvtdq2ps_xmm_xmmm128, &Cvtdq2ps);
        t.Set(Code.Cvtps2dq_xmm_xmmm128, &Cvtps2dq);
        t.Set(Code.Cvttps2dq_xmm_xmmm128, &Cvttps2dq);
        t.Set(Code.Cvtdq2pd_xmm_xmmm64, &Cvtdq2pd);
        t.Set(Code.Cvtpd2dq_xmm_xmmm128, &Cvtpd2dq);
        t.Set(Code.Cvttpd2dq_xmm_xmmm128, &Cvttpd2dq);
    }

    private static long ReadSignedInteger(CpuCore cpu, in Instruction i)
    {
        int width = Operands.Width(i, 1);
        return (long)Operands.SignExtend(Operands.Read(cpu, i, 1, width), width);
    }

    private static void IntegerToSingle(CpuCore cpu, ref Instruction i)
    {
        long value = ReadSignedInteger(cpu, i);
        uint flags = 0;
        ulong result = SseFloat.FromInteger(value, false, cpu.Mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        ref var d = ref Xmm(cpu, i, 0);
        d.Low = (d.Low & ~0xFFFF_FFFFUL) | result;
    }

    private static void IntegerToDouble(CpuCore cpu, ref Instruction i)
    {
        long value = ReadSignedInteger(cpu, i);
        uint flags = 0;
        ulong result = SseFloat.FromInteger(value, true, cpu.Mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        Xmm(cpu, i, 0).Low = result;
    }

    private static void ToInteger(CpuCore cpu, in Instruction i, bool isDouble, bool truncate)
    {
        ulong source = isDouble ? Read64(cpu, i, 1) : Read32(cpu, i, 1);
        int bits = i.Op0Register.GetSize() * 8;
        uint flags = 0;
        ulong result = SseFloat.ToInteger(source, isDouble, bits, truncate, cpu.Mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        Operands.WriteRegister(cpu, i.Op0Register, result);
    }

    private static void SingleToIntegerTruncating(CpuCore cpu, ref Instruction i) => ToInteger(cpu, i, false, true);
    private static void SingleToInteger(CpuCore cpu, ref Instruction i) => ToInteger(cpu, i, false, false);
    private static void DoubleToIntegerTruncating(CpuCore cpu, ref Instruction i) => ToInteger(cpu, i, true, true);
    private static void DoubleToInteger(CpuCore cpu, ref Instruction i) => ToInteger(cpu, i, true, false);

    private static void Cvtss2sd(CpuCore cpu, ref Instruction i)
    {
        ulong source = Read32(cpu, i, 1);
        uint flags = 0;
        ulong result = SseFloat.ConvertFloat(source, false, cpu.Mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        Xmm(cpu, i, 0).Low = result;
    }

    private static void Cvtsd2ss(CpuCore cpu, ref Instruction i)
    {
        ulong source = Read64(cpu, i, 1);
        uint flags = 0;
        ulong result = SseFloat.ConvertFloat(source, true, cpu.Mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        ref var d = ref Xmm(cpu, i, 0);
        d.Low = (d.Low & ~0xFFFF_FFFFUL) | result;
    }

    private static void Cvtps2pd(CpuCore cpu, ref Instruction i)
    {
        ulong source = Read64(cpu, i, 1);
        uint flags = 0, mxcsr = cpu.Mxcsr;
        ulong low = SseFloat.ConvertFloat((uint)source, false, mxcsr, ref flags);
        ulong high = SseFloat.ConvertFloat(source >> 32, false, mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        ref var d = ref Xmm(cpu, i, 0);
        d.Low = low;
        d.High = high;
    }

    private static void Cvtpd2ps(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        uint flags = 0, mxcsr = cpu.Mxcsr;
        ulong low = SseFloat.ConvertFloat(s.Low, true, mxcsr, ref flags);
        ulong high = SseFloat.ConvertFloat(s.High, true, mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        ref var d = ref Xmm(cpu, i, 0);
        d.Low = low | high << 32;
        d.High = 0;
    }

    private static void Cvtdq2ps(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        uint flags = 0, mxcsr = cpu.Mxcsr;
        ulong r0 = SseFloat.FromInteger((int)s.Low, false, mxcsr, ref flags);
        ulong r1 = SseFloat.FromInteger((int)(s.Low >> 32), false, mxcsr, ref flags);
        ulong r2 = SseFloat.FromInteger((int)s.High, false, mxcsr, ref flags);
        ulong r3 = SseFloat.FromInteger((int)(s.High >> 32), false, mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        ref var d = ref Xmm(cpu, i, 0);
        d.Low = r0 | r1 << 32;
        d.High = r2 | r3 << 32;
    }

    private static void SinglesToIntegers(CpuCore cpu, in Instruction i, bool truncate)
    {
        var s = Read128(cpu, i, 1);
        uint flags = 0, mxcsr = cpu.Mxcsr;
        ulong r0 = SseFloat.ToInteger((uint)s.Low, false, 32, truncate, mxcsr, ref flags);
        ulong r1 = SseFloat.ToInteger(s.Low >> 32, false, 32, truncate, mxcsr, ref flags);
        ulong r2 = SseFloat.ToInteger((uint)s.High, false, 32, truncate, mxcsr, ref flags);
        ulong r3 = SseFloat.ToInteger(s.High >> 32, false, 32, truncate, mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        ref var d = ref Xmm(cpu, i, 0);
        d.Low = r0 | r1 << 32;
        d.High = r2 | r3 << 32;
    }

    private static void Cvtps2dq(CpuCore cpu, ref Instruction i) => SinglesToIntegers(cpu, i, false);
    private static void Cvttps2dq(CpuCore cpu, ref Instruction i) => SinglesToIntegers(cpu, i, true);

    private static void Cvtdq2pd(CpuCore cpu, ref Instruction i)
    {
        ulong source = Read64(cpu, i, 1);
        uint flags = 0, mxcsr = cpu.Mxcsr;
        ulong low = SseFloat.FromInteger((int)source, true, mxcsr, ref flags);
        ulong high = SseFloat.FromInteger((int)(source >> 32), true, mxcsr, ref flags);
        ref var d = ref Xmm(cpu, i, 0);
        d.Low = low;
        d.High = high;
    }

    private static void DoublesToIntegers(CpuCore cpu, in Instruction i, bool truncate)
    {
        var s = Read128(cpu, i, 1);
        uint flags = 0, mxcsr = cpu.Mxcsr;
        ulong low = SseFloat.ToInteger(s.Low, true, 32, truncate, mxcsr, ref flags);
        ulong high = SseFloat.ToInteger(s.High, true, 32, truncate, mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        ref var d = ref Xmm(cpu, i, 0);
        d.Low = low | high << 32;
        d.High = 0;
    }

    private static void Cvtpd2dq(CpuCore cpu, ref Instruction i) => DoublesToIntegers(cpu, i, false);
    private static void Cvttpd2dq(CpuCore cpu, ref Instruction i) => DoublesToIntegers(cpu, i, true);
}
