using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Instructions.Sse.XmmOperands;

namespace Sharpvisor.Engines.Emulator.Instructions.Sse;

/// <summary>
/// SSE/SSE2 floating-point arithmetic, packed and scalar: ADD, SUB, MUL, DIV, MIN, MAX, SQRT on PS/PD/SS/SD,
/// computed by <see cref="SseFloat"/> under MXCSR. Exceptions whose MXCSR mask bit is clear raise #XM with the
/// destination left unchanged and the flags recorded, as SSE does for pre- and post-computation exceptions alike
/// (the OS is assumed to have set CR4.OSXMMEXCPT; without it the CPU would raise #UD instead).
/// </summary>
public static class SseFloatArithmetic
{
    public static unsafe void Register(InstructionTable t)
    {
        t.Set(Code.Addps_xmm_xmmm128, &Addps); t.Set(Code.Addpd_xmm_xmmm128, &Addpd); t.Set(Code.Addss_xmm_xmmm32, &Addss); t.Set(Code.Addsd_xmm_xmmm64, &Addsd);
        t.Set(Code.Subps_xmm_xmmm128, &Subps); t.Set(Code.Subpd_xmm_xmmm128, &Subpd); t.Set(Code.Subss_xmm_xmmm32, &Subss); t.Set(Code.Subsd_xmm_xmmm64, &Subsd);
        t.Set(Code.Mulps_xmm_xmmm128, &Mulps); t.Set(Code.Mulpd_xmm_xmmm128, &Mulpd); t.Set(Code.Mulss_xmm_xmmm32, &Mulss); t.Set(Code.Mulsd_xmm_xmmm64, &Mulsd);
        t.Set(Code.Divps_xmm_xmmm128, &Divps); t.Set(Code.Divpd_xmm_xmmm128, &Divpd); t.Set(Code.Divss_xmm_xmmm32, &Divss); t.Set(Code.Divsd_xmm_xmmm64, &Divsd);
        t.Set(Code.Minps_xmm_xmmm128, &Minps); t.Set(Code.Minpd_xmm_xmmm128, &Minpd); t.Set(Code.Minss_xmm_xmmm32, &Minss); t.Set(Code.Minsd_xmm_xmmm64, &Minsd);
        t.Set(Code.Maxps_xmm_xmmm128, &Maxps); t.Set(Code.Maxpd_xmm_xmmm128, &Maxpd); t.Set(Code.Maxss_xmm_xmmm32, &Maxss); t.Set(Code.Maxsd_xmm_xmmm64, &Maxsd);
        t.Set(Code.Sqrtps_xmm_xmmm128, &Sqrtps); t.Set(Code.Sqrtpd_xmm_xmmm128, &Sqrtpd); t.Set(Code.Sqrtss_xmm_xmmm32, &Sqrtss); t.Set(Code.Sqrtsd_xmm_xmmm64, &Sqrtsd);
    }

    /// <summary>Records the sticky flags and raises #XM if any of them is unmasked.</summary>
    public static void Commit(CpuCore cpu, uint flags)
    {
        cpu.Mxcsr |= flags;
        if ((flags & ~(cpu.Mxcsr >> 7) & 0x3F) != 0) throw new GuestFault(GuestFault.SimdFloatingPoint);
    }

    private static unsafe void Packed(CpuCore cpu, ref Instruction i, bool isDouble, delegate*<ulong, ulong, bool, uint, ref uint, ulong> op)
    {
        var s = Read128(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        var d = destination;
        uint flags = 0, mxcsr = cpu.Mxcsr;
        XmmRegister r;
        if (isDouble)
        {
            r.Low = op(d.Low, s.Low, true, mxcsr, ref flags);
            r.High = op(d.High, s.High, true, mxcsr, ref flags);
        }
        else
        {
            r.Low = op((uint)d.Low, (uint)s.Low, false, mxcsr, ref flags) | op(d.Low >> 32, s.Low >> 32, false, mxcsr, ref flags) << 32;
            r.High = op((uint)d.High, (uint)s.High, false, mxcsr, ref flags) | op(d.High >> 32, s.High >> 32, false, mxcsr, ref flags) << 32;
        }
        Commit(cpu, flags);
        destination = r;
    }

    private static unsafe void Scalar(CpuCore cpu, ref Instruction i, bool isDouble, delegate*<ulong, ulong, bool, uint, ref uint, ulong> op)
    {
        ulong source = isDouble ? Read64(cpu, i, 1) : Read32(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        uint flags = 0;
        ulong result = op(isDouble ? destination.Low : (uint)destination.Low, source, isDouble, cpu.Mxcsr, ref flags);
        Commit(cpu, flags);
        destination.Low = isDouble ? result : (destination.Low & ~0xFFFF_FFFFUL) | result;
    }

    private static ulong SquareRootOfSecond(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags) => SseFloat.SquareRoot(b, isDouble, mxcsr, ref flags);

    private static unsafe void Addps(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, false, &SseFloat.Add);
    private static unsafe void Addpd(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, true, &SseFloat.Add);
    private static unsafe void Addss(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, false, &SseFloat.Add);
    private static unsafe void Addsd(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, true, &SseFloat.Add);
    private static unsafe void Subps(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, false, &SseFloat.Subtract);
    private static unsafe void Subpd(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, true, &SseFloat.Subtract);
    private static unsafe void Subss(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, false, &SseFloat.Subtract);
    private static unsafe void Subsd(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, true, &SseFloat.Subtract);
    private static unsafe void Mulps(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, false, &SseFloat.Multiply);
    private static unsafe void Mulpd(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, true, &SseFloat.Multiply);
    private static unsafe void Mulss(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, false, &SseFloat.Multiply);
    private static unsafe void Mulsd(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, true, &SseFloat.Multiply);
    private static unsafe void Divps(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, false, &SseFloat.Divide);
    private static unsafe void Divpd(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, true, &SseFloat.Divide);
    private static unsafe void Divss(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, false, &SseFloat.Divide);
    private static unsafe void Divsd(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, true, &SseFloat.Divide);
    private static unsafe void Minps(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, false, &SseFloat.Minimum);
    private static unsafe void Minpd(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, true, &SseFloat.Minimum);
    private static unsafe void Minss(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, false, &SseFloat.Minimum);
    private static unsafe void Minsd(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, true, &SseFloat.Minimum);
    private static unsafe void Maxps(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, false, &SseFloat.Maximum);
    private static unsafe void Maxpd(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, true, &SseFloat.Maximum);
    private static unsafe void Maxss(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, false, &SseFloat.Maximum);
    private static unsafe void Maxsd(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, true, &SseFloat.Maximum);
    private static unsafe void Sqrtps(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, false, &SquareRootOfSecond);
    private static unsafe void Sqrtpd(CpuCore cpu, ref Instruction i) => Packed(cpu, ref i, true, &SquareRootOfSecond);
    private static unsafe void Sqrtss(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, false, &SquareRootOfSecond);
    private static unsafe void Sqrtsd(CpuCore cpu, ref Instruction i) => Scalar(cpu, ref i, true, &SquareRootOfSecond);
}
