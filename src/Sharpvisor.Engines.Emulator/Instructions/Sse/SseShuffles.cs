using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Instructions.Sse.XmmOperands;
using static Sharpvisor.Engines.Emulator.Instructions.Sse.XmmVectors;

namespace Sharpvisor.Engines.Emulator.Instructions.Sse;

/// <summary>
/// SSE/SSE2 lane rearrangement: PSHUFD/PSHUFLW/PSHUFHW, SHUFPS/SHUFPD, the unpacks (PUNPCK*, UNPCK*), the
/// saturating packs (PACKSSWB, PACKUSWB, PACKSSDW) and the whole-register byte shifts PSLLDQ/PSRLDQ.
/// </summary>
public static class SseShuffles
{
    public static unsafe void Register(InstructionTable t)
    {
        t.Set(Code.Pshufd_xmm_xmmm128_imm8, &Pshufd);
        t.Set(Code.Pshuflw_xmm_xmmm128_imm8, &Pshuflw);
        t.Set(Code.Pshufhw_xmm_xmmm128_imm8, &Pshufhw);
        t.Set(Code.Shufps_xmm_xmmm128_imm8, &Shufps);
        t.Set(Code.Shufpd_xmm_xmmm128_imm8, &Shufpd);
        t.Set(Code.Punpcklbw_xmm_xmmm128, &UnpackLowBytes);
        t.Set(Code.Punpcklwd_xmm_xmmm128, &UnpackLowWords);
        t.Set(Code.Punpckldq_xmm_xmmm128, &UnpackLowDwords);
        t.Set(Code.Unpcklps_xmm_xmmm128, &UnpackLowDwords);
        t.Set(Code.Punpcklqdq_xmm_xmmm128, &UnpackLowQwords);
        t.Set(Code.Unpcklpd_xmm_xmmm128, &UnpackLowQwords);
        t.Set(Code.Punpckhbw_xmm_xmmm128, &UnpackHighBytes);
        t.Set(Code.Punpckhwd_xmm_xmmm128, &UnpackHighWords);
        t.Set(Code.Punpckhdq_xmm_xmmm128, &UnpackHighDwords);
        t.Set(Code.Unpckhps_xmm_xmmm128, &UnpackHighDwords);
        t.Set(Code.Punpckhqdq_xmm_xmmm128, &UnpackHighQwords);
        t.Set(Code.Unpckhpd_xmm_xmmm128, &UnpackHighQwords);
        t.Set(Code.Packsswb_xmm_xmmm128, &Packsswb);
        t.Set(Code.Packuswb_xmm_xmmm128, &Packuswb);
        t.Set(Code.Packssdw_xmm_xmmm128, &Packssdw);
        t.Set(Code.Pslldq_xmm_imm8, &Pslldq);
        t.Set(Code.Psrldq_xmm_imm8, &Psrldq);
    }

    private static void Pshufd(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        var source = Lanes<uint>(ref s);
        int order = i.Immediate8;
        var result = new XmmRegister();
        var r = Lanes<uint>(ref result);
        for (int k = 0; k < 4; k++) r[k] = source[(order >> (2 * k)) & 3];
        Xmm(cpu, i, 0) = result;
    }

    private static void Pshuflw(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        var result = s;
        var source = Lanes<ushort>(ref s);
        var r = Lanes<ushort>(ref result);
        int order = i.Immediate8;
        for (int k = 0; k < 4; k++) r[k] = source[(order >> (2 * k)) & 3];
        Xmm(cpu, i, 0) = result;
    }

    private static void Pshufhw(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        var result = s;
        var source = Lanes<ushort>(ref s);
        var r = Lanes<ushort>(ref result);
        int order = i.Immediate8;
        for (int k = 0; k < 4; k++) r[4 + k] = source[4 + ((order >> (2 * k)) & 3)];
        Xmm(cpu, i, 0) = result;
    }

    /// <summary>The low two lanes come from the destination, the high two from the source.</summary>
    private static void Shufps(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        var d = destination;
        var a = Lanes<uint>(ref d);
        var b = Lanes<uint>(ref s);
        int order = i.Immediate8;
        var r = Lanes<uint>(ref destination);
        r[0] = a[order & 3];
        r[1] = a[(order >> 2) & 3];
        r[2] = b[(order >> 4) & 3];
        r[3] = b[(order >> 6) & 3];
    }

    private static void Shufpd(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        ref var d = ref Xmm(cpu, i, 0);
        int order = i.Immediate8;
        ulong low = (order & 1) == 0 ? d.Low : d.High;
        ulong high = (order & 2) == 0 ? s.Low : s.High;
        d.Low = low;
        d.High = high;
    }

    /// <summary>Interleaves lanes of <typeparamref name="T"/> from one half (low or high) of destination and source.</summary>
    private static void Unpack<T>(CpuCore cpu, ref Instruction i, bool high) where T : struct
    {
        var s = Read128(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        var d = destination;
        var a = Lanes<T>(ref d);
        var b = Lanes<T>(ref s);
        var r = Lanes<T>(ref destination);
        int half = a.Length / 2, first = high ? half : 0;
        for (int k = 0; k < half; k++)
        {
            r[2 * k] = a[first + k];
            r[2 * k + 1] = b[first + k];
        }
    }

    private static void UnpackLowBytes(CpuCore cpu, ref Instruction i) => Unpack<byte>(cpu, ref i, high: false);
    private static void UnpackLowWords(CpuCore cpu, ref Instruction i) => Unpack<ushort>(cpu, ref i, high: false);
    private static void UnpackLowDwords(CpuCore cpu, ref Instruction i) => Unpack<uint>(cpu, ref i, high: false);
    private static void UnpackLowQwords(CpuCore cpu, ref Instruction i) => Unpack<ulong>(cpu, ref i, high: false);
    private static void UnpackHighBytes(CpuCore cpu, ref Instruction i) => Unpack<byte>(cpu, ref i, high: true);
    private static void UnpackHighWords(CpuCore cpu, ref Instruction i) => Unpack<ushort>(cpu, ref i, high: true);
    private static void UnpackHighDwords(CpuCore cpu, ref Instruction i) => Unpack<uint>(cpu, ref i, high: true);
    private static void UnpackHighQwords(CpuCore cpu, ref Instruction i) => Unpack<ulong>(cpu, ref i, high: true);

    private static void Packsswb(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        var d = destination;
        var a = Lanes<short>(ref d);
        var b = Lanes<short>(ref s);
        var r = Lanes<sbyte>(ref destination);
        for (int k = 0; k < 8; k++)
        {
            r[k] = (sbyte)Math.Clamp(a[k], sbyte.MinValue, sbyte.MaxValue);
            r[k + 8] = (sbyte)Math.Clamp(b[k], sbyte.MinValue, sbyte.MaxValue);
        }
    }

    private static void Packuswb(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        var d = destination;
        var a = Lanes<short>(ref d);
        var b = Lanes<short>(ref s);
        var r = Lanes<byte>(ref destination);
        for (int k = 0; k < 8; k++)
        {
            r[k] = (byte)Math.Clamp(a[k], byte.MinValue, byte.MaxValue);
            r[k + 8] = (byte)Math.Clamp(b[k], byte.MinValue, byte.MaxValue);
        }
    }

    private static void Packssdw(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        var d = destination;
        var a = Lanes<int>(ref d);
        var b = Lanes<int>(ref s);
        var r = Lanes<short>(ref destination);
        for (int k = 0; k < 4; k++)
        {
            r[k] = (short)Math.Clamp(a[k], short.MinValue, short.MaxValue);
            r[k + 4] = (short)Math.Clamp(b[k], short.MinValue, short.MaxValue);
        }
    }

    private static void Pslldq(CpuCore cpu, ref Instruction i)
    {
        ref var d = ref Xmm(cpu, i, 0);
        int bytes = i.Immediate8;
        UInt128 value = bytes > 15 ? 0 : new UInt128(d.High, d.Low) << (bytes * 8);
        d.Low = (ulong)value;
        d.High = (ulong)(value >> 64);
    }

    private static void Psrldq(CpuCore cpu, ref Instruction i)
    {
        ref var d = ref Xmm(cpu, i, 0);
        int bytes = i.Immediate8;
        UInt128 value = bytes > 15 ? 0 : new UInt128(d.High, d.Low) >> (bytes * 8);
        d.Low = (ulong)value;
        d.High = (ulong)(value >> 64);
    }
}
