using System.Runtime.Intrinsics;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Instructions.Sse.XmmOperands;
using static Sharpvisor.Engines.Emulator.Instructions.Sse.XmmVectors;

namespace Sharpvisor.Engines.Emulator.Instructions.Sse;

/// <summary>
/// SSE2 packed integer instructions and the bitwise logic of SSE/SSE2 (integer and float forms act alike):
/// PAND/PANDN/POR/PXOR, ANDPS..XORPD, PADD*/PSUB* (wrapping and saturating), PCMPEQ*/PCMPGT*, PMIN/PMAX,
/// PAVG, the multiplies, PSADBW, and the bit shifts PSLL*/PSRL*/PSRA* by immediate or by register/memory count.
/// </summary>
public static class SseIntegerArithmetic
{
    public static unsafe void Register(InstructionTable t)
    {
        Set(t, &And, Code.Pand_xmm_xmmm128, Code.Andps_xmm_xmmm128, Code.Andpd_xmm_xmmm128);
        Set(t, &AndNot, Code.Pandn_xmm_xmmm128, Code.Andnps_xmm_xmmm128, Code.Andnpd_xmm_xmmm128);
        Set(t, &Or, Code.Por_xmm_xmmm128, Code.Orps_xmm_xmmm128, Code.Orpd_xmm_xmmm128);
        Set(t, &Xor, Code.Pxor_xmm_xmmm128, Code.Xorps_xmm_xmmm128, Code.Xorpd_xmm_xmmm128);
        Set(t, &AddBytes, Code.Paddb_xmm_xmmm128);
        Set(t, &AddWords, Code.Paddw_xmm_xmmm128);
        Set(t, &AddDwords, Code.Paddd_xmm_xmmm128);
        Set(t, &AddQwords, Code.Paddq_xmm_xmmm128);
        Set(t, &SubBytes, Code.Psubb_xmm_xmmm128);
        Set(t, &SubWords, Code.Psubw_xmm_xmmm128);
        Set(t, &SubDwords, Code.Psubd_xmm_xmmm128);
        Set(t, &SubQwords, Code.Psubq_xmm_xmmm128);
        Set(t, &EqualBytes, Code.Pcmpeqb_xmm_xmmm128);
        Set(t, &EqualWords, Code.Pcmpeqw_xmm_xmmm128);
        Set(t, &EqualDwords, Code.Pcmpeqd_xmm_xmmm128);
        Set(t, &GreaterBytes, Code.Pcmpgtb_xmm_xmmm128);
        Set(t, &GreaterWords, Code.Pcmpgtw_xmm_xmmm128);
        Set(t, &GreaterDwords, Code.Pcmpgtd_xmm_xmmm128);
        Set(t, &MinUnsignedBytes, Code.Pminub_xmm_xmmm128);
        Set(t, &MaxUnsignedBytes, Code.Pmaxub_xmm_xmmm128);
        Set(t, &MinSignedWords, Code.Pminsw_xmm_xmmm128);
        Set(t, &MaxSignedWords, Code.Pmaxsw_xmm_xmmm128);
        Set(t, &Lanewise<sbyte, AddSaturateSignedBytes>, Code.Paddsb_xmm_xmmm128);
        Set(t, &Lanewise<short, AddSaturateSignedWords>, Code.Paddsw_xmm_xmmm128);
        Set(t, &Lanewise<byte, AddSaturateUnsignedBytes>, Code.Paddusb_xmm_xmmm128);
        Set(t, &Lanewise<ushort, AddSaturateUnsignedWords>, Code.Paddusw_xmm_xmmm128);
        Set(t, &Lanewise<sbyte, SubSaturateSignedBytes>, Code.Psubsb_xmm_xmmm128);
        Set(t, &Lanewise<short, SubSaturateSignedWords>, Code.Psubsw_xmm_xmmm128);
        Set(t, &Lanewise<byte, SubSaturateUnsignedBytes>, Code.Psubusb_xmm_xmmm128);
        Set(t, &Lanewise<ushort, SubSaturateUnsignedWords>, Code.Psubusw_xmm_xmmm128);
        Set(t, &Lanewise<byte, AverageBytes>, Code.Pavgb_xmm_xmmm128);
        Set(t, &Lanewise<ushort, AverageWords>, Code.Pavgw_xmm_xmmm128);
        Set(t, &Lanewise<short, MultiplyLowWords>, Code.Pmullw_xmm_xmmm128);
        Set(t, &Lanewise<short, MultiplyHighSignedWords>, Code.Pmulhw_xmm_xmmm128);
        Set(t, &Lanewise<ushort, MultiplyHighUnsignedWords>, Code.Pmulhuw_xmm_xmmm128);
        Set(t, &MultiplyUnsignedDwords, Code.Pmuludq_xmm_xmmm128);
        Set(t, &MultiplyAddWords, Code.Pmaddwd_xmm_xmmm128);
        Set(t, &SumAbsoluteDifferences, Code.Psadbw_xmm_xmmm128);
        Set(t, &ShiftLeftWords, Code.Psllw_xmm_imm8, Code.Psllw_xmm_xmmm128);
        Set(t, &ShiftLeftDwords, Code.Pslld_xmm_imm8, Code.Pslld_xmm_xmmm128);
        Set(t, &ShiftLeftQwords, Code.Psllq_xmm_imm8, Code.Psllq_xmm_xmmm128);
        Set(t, &ShiftRightWords, Code.Psrlw_xmm_imm8, Code.Psrlw_xmm_xmmm128);
        Set(t, &ShiftRightDwords, Code.Psrld_xmm_imm8, Code.Psrld_xmm_xmmm128);
        Set(t, &ShiftRightQwords, Code.Psrlq_xmm_imm8, Code.Psrlq_xmm_xmmm128);
        Set(t, &ShiftRightArithmeticWords, Code.Psraw_xmm_imm8, Code.Psraw_xmm_xmmm128);
        Set(t, &ShiftRightArithmeticDwords, Code.Psrad_xmm_imm8, Code.Psrad_xmm_xmmm128);
    }

    private static unsafe void Set(InstructionTable t, delegate*<CpuCore, ref Instruction, void> handler, params ReadOnlySpan<Code> codes)
    {
        foreach (var code in codes) t.Set(code, handler);
    }

    /// <summary>destination = op(destination, source) on whole vectors.</summary>
    private static unsafe void Binary(CpuCore cpu, ref Instruction i, delegate*<Vector128<byte>, Vector128<byte>, Vector128<byte>> op)
    {
        var source = Read128(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        destination = ToXmm(op(ToVector(destination), ToVector(source)));
    }

    private static unsafe void And(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &AndOp);
    private static unsafe void AndNot(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &AndNotOp);
    private static unsafe void Or(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &OrOp);
    private static unsafe void Xor(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &XorOp);
    private static unsafe void AddBytes(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &AddBytesOp);
    private static unsafe void AddWords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &AddWordsOp);
    private static unsafe void AddDwords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &AddDwordsOp);
    private static unsafe void AddQwords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &AddQwordsOp);
    private static unsafe void SubBytes(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &SubBytesOp);
    private static unsafe void SubWords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &SubWordsOp);
    private static unsafe void SubDwords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &SubDwordsOp);
    private static unsafe void SubQwords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &SubQwordsOp);
    private static unsafe void EqualBytes(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &EqualBytesOp);
    private static unsafe void EqualWords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &EqualWordsOp);
    private static unsafe void EqualDwords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &EqualDwordsOp);
    private static unsafe void GreaterBytes(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &GreaterBytesOp);
    private static unsafe void GreaterWords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &GreaterWordsOp);
    private static unsafe void GreaterDwords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &GreaterDwordsOp);
    private static unsafe void MinUnsignedBytes(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &MinUnsignedBytesOp);
    private static unsafe void MaxUnsignedBytes(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &MaxUnsignedBytesOp);
    private static unsafe void MinSignedWords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &MinSignedWordsOp);
    private static unsafe void MaxSignedWords(CpuCore cpu, ref Instruction i) => Binary(cpu, ref i, &MaxSignedWordsOp);

    private static Vector128<byte> AndOp(Vector128<byte> d, Vector128<byte> s) => d & s;
    private static Vector128<byte> AndNotOp(Vector128<byte> d, Vector128<byte> s) => s & ~d;
    private static Vector128<byte> OrOp(Vector128<byte> d, Vector128<byte> s) => d | s;
    private static Vector128<byte> XorOp(Vector128<byte> d, Vector128<byte> s) => d ^ s;
    private static Vector128<byte> AddBytesOp(Vector128<byte> d, Vector128<byte> s) => d + s;
    private static Vector128<byte> AddWordsOp(Vector128<byte> d, Vector128<byte> s) => (d.AsUInt16() + s.AsUInt16()).AsByte();
    private static Vector128<byte> AddDwordsOp(Vector128<byte> d, Vector128<byte> s) => (d.AsUInt32() + s.AsUInt32()).AsByte();
    private static Vector128<byte> AddQwordsOp(Vector128<byte> d, Vector128<byte> s) => (d.AsUInt64() + s.AsUInt64()).AsByte();
    private static Vector128<byte> SubBytesOp(Vector128<byte> d, Vector128<byte> s) => d - s;
    private static Vector128<byte> SubWordsOp(Vector128<byte> d, Vector128<byte> s) => (d.AsUInt16() - s.AsUInt16()).AsByte();
    private static Vector128<byte> SubDwordsOp(Vector128<byte> d, Vector128<byte> s) => (d.AsUInt32() - s.AsUInt32()).AsByte();
    private static Vector128<byte> SubQwordsOp(Vector128<byte> d, Vector128<byte> s) => (d.AsUInt64() - s.AsUInt64()).AsByte();
    private static Vector128<byte> EqualBytesOp(Vector128<byte> d, Vector128<byte> s) => Vector128.Equals(d, s);
    private static Vector128<byte> EqualWordsOp(Vector128<byte> d, Vector128<byte> s) => Vector128.Equals(d.AsUInt16(), s.AsUInt16()).AsByte();
    private static Vector128<byte> EqualDwordsOp(Vector128<byte> d, Vector128<byte> s) => Vector128.Equals(d.AsUInt32(), s.AsUInt32()).AsByte();
    private static Vector128<byte> GreaterBytesOp(Vector128<byte> d, Vector128<byte> s) => Vector128.GreaterThan(d.AsSByte(), s.AsSByte()).AsByte();
    private static Vector128<byte> GreaterWordsOp(Vector128<byte> d, Vector128<byte> s) => Vector128.GreaterThan(d.AsInt16(), s.AsInt16()).AsByte();
    private static Vector128<byte> GreaterDwordsOp(Vector128<byte> d, Vector128<byte> s) => Vector128.GreaterThan(d.AsInt32(), s.AsInt32()).AsByte();
    private static Vector128<byte> MinUnsignedBytesOp(Vector128<byte> d, Vector128<byte> s) => Vector128.Min(d, s);
    private static Vector128<byte> MaxUnsignedBytesOp(Vector128<byte> d, Vector128<byte> s) => Vector128.Max(d, s);
    private static Vector128<byte> MinSignedWordsOp(Vector128<byte> d, Vector128<byte> s) => Vector128.Min(d.AsInt16(), s.AsInt16()).AsByte();
    private static Vector128<byte> MaxSignedWordsOp(Vector128<byte> d, Vector128<byte> s) => Vector128.Max(d.AsInt16(), s.AsInt16()).AsByte();

    /// <summary>An operation on one lane of <typeparamref name="T"/>: destination lane, source lane.</summary>
    private interface ILaneOperation<T>
    {
        static abstract T Apply(T d, T s);
    }

    /// <summary>destination = op(destination, source) lane by lane, for the operations Vector128 has no form of.</summary>
    private static void Lanewise<T, TOp>(CpuCore cpu, ref Instruction i) where T : struct where TOp : struct, ILaneOperation<T>
    {
        var source = Read128(cpu, i, 1);
        var d = Lanes<T>(ref Xmm(cpu, i, 0));
        var s = Lanes<T>(ref source);
        for (int k = 0; k < d.Length; k++) d[k] = TOp.Apply(d[k], s[k]);
    }

    private readonly struct AddSaturateSignedBytes : ILaneOperation<sbyte> { public static sbyte Apply(sbyte d, sbyte s) => (sbyte)Math.Clamp(d + s, sbyte.MinValue, sbyte.MaxValue); }
    private readonly struct AddSaturateSignedWords : ILaneOperation<short> { public static short Apply(short d, short s) => (short)Math.Clamp(d + s, short.MinValue, short.MaxValue); }
    private readonly struct AddSaturateUnsignedBytes : ILaneOperation<byte> { public static byte Apply(byte d, byte s) => (byte)Math.Min(d + s, byte.MaxValue); }
    private readonly struct AddSaturateUnsignedWords : ILaneOperation<ushort> { public static ushort Apply(ushort d, ushort s) => (ushort)Math.Min(d + s, ushort.MaxValue); }
    private readonly struct SubSaturateSignedBytes : ILaneOperation<sbyte> { public static sbyte Apply(sbyte d, sbyte s) => (sbyte)Math.Clamp(d - s, sbyte.MinValue, sbyte.MaxValue); }
    private readonly struct SubSaturateSignedWords : ILaneOperation<short> { public static short Apply(short d, short s) => (short)Math.Clamp(d - s, short.MinValue, short.MaxValue); }
    private readonly struct SubSaturateUnsignedBytes : ILaneOperation<byte> { public static byte Apply(byte d, byte s) => (byte)Math.Max(d - s, 0); }
    private readonly struct SubSaturateUnsignedWords : ILaneOperation<ushort> { public static ushort Apply(ushort d, ushort s) => (ushort)Math.Max(d - s, 0); }
    private readonly struct AverageBytes : ILaneOperation<byte> { public static byte Apply(byte d, byte s) => (byte)((d + s + 1) >> 1); }
    private readonly struct AverageWords : ILaneOperation<ushort> { public static ushort Apply(ushort d, ushort s) => (ushort)((d + s + 1) >> 1); }
    private readonly struct MultiplyLowWords : ILaneOperation<short> { public static short Apply(short d, short s) => (short)(d * s); }
    private readonly struct MultiplyHighSignedWords : ILaneOperation<short> { public static short Apply(short d, short s) => (short)((d * s) >> 16); }
    private readonly struct MultiplyHighUnsignedWords : ILaneOperation<ushort> { public static ushort Apply(ushort d, ushort s) => (ushort)(((uint)d * s) >> 16); }

    private static void MultiplyUnsignedDwords(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        ref var d = ref Xmm(cpu, i, 0);
        d.Low = (ulong)(uint)d.Low * (uint)s.Low;
        d.High = (ulong)(uint)d.High * (uint)s.High;
    }

    private static void MultiplyAddWords(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        var a = destination;
        var wa = Lanes<short>(ref a);
        var wb = Lanes<short>(ref s);
        var d = Lanes<int>(ref destination);
        // Only -32768 * -32768 twice overflows; the sum then wraps to 0x80000000, as the hardware does.
        for (int k = 0; k < 4; k++) d[k] = unchecked(wa[2 * k] * wb[2 * k] + wa[2 * k + 1] * wb[2 * k + 1]);
    }

    private static void SumAbsoluteDifferences(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        ref var destination = ref Xmm(cpu, i, 0);
        var a = destination;
        var ba = Lanes<byte>(ref a);
        var bb = Lanes<byte>(ref s);
        ulong low = 0, high = 0;
        for (int k = 0; k < 8; k++)
        {
            low += (ulong)Math.Abs(ba[k] - bb[k]);
            high += (ulong)Math.Abs(ba[k + 8] - bb[k + 8]);
        }
        destination.Low = low;
        destination.High = high;
    }

    /// <summary>The shift count: the immediate, or the whole low quadword of the source operand.</summary>
    private static ulong ShiftCount(CpuCore cpu, in Instruction i) =>
        i.Op1Kind == OpKind.Immediate8 ? i.Immediate8 : Read128(cpu, i, 1).Low;

    private static void ShiftLeftWords(CpuCore cpu, ref Instruction i)
    {
        ulong count = ShiftCount(cpu, i);
        ref var d = ref Xmm(cpu, i, 0);
        d = count > 15 ? default : ToXmm(Vector128.ShiftLeft(ToVector(d).AsUInt16(), (int)count));
    }

    private static void ShiftLeftDwords(CpuCore cpu, ref Instruction i)
    {
        ulong count = ShiftCount(cpu, i);
        ref var d = ref Xmm(cpu, i, 0);
        d = count > 31 ? default : ToXmm(Vector128.ShiftLeft(ToVector(d).AsUInt32(), (int)count));
    }

    private static void ShiftLeftQwords(CpuCore cpu, ref Instruction i)
    {
        ulong count = ShiftCount(cpu, i);
        ref var d = ref Xmm(cpu, i, 0);
        if (count > 63) d = default;
        else
        {
            d.Low <<= (int)count;
            d.High <<= (int)count;
        }
    }

    private static void ShiftRightWords(CpuCore cpu, ref Instruction i)
    {
        ulong count = ShiftCount(cpu, i);
        ref var d = ref Xmm(cpu, i, 0);
        d = count > 15 ? default : ToXmm(Vector128.ShiftRightLogical(ToVector(d).AsUInt16(), (int)count));
    }

    private static void ShiftRightDwords(CpuCore cpu, ref Instruction i)
    {
        ulong count = ShiftCount(cpu, i);
        ref var d = ref Xmm(cpu, i, 0);
        d = count > 31 ? default : ToXmm(Vector128.ShiftRightLogical(ToVector(d).AsUInt32(), (int)count));
    }

    private static void ShiftRightQwords(CpuCore cpu, ref Instruction i)
    {
        ulong count = ShiftCount(cpu, i);
        ref var d = ref Xmm(cpu, i, 0);
        if (count > 63) d = default;
        else
        {
            d.Low >>= (int)count;
            d.High >>= (int)count;
        }
    }

    /// <summary>Counts past the lane width fill each lane with its sign bit.</summary>
    private static void ShiftRightArithmeticWords(CpuCore cpu, ref Instruction i)
    {
        ulong count = Math.Min(ShiftCount(cpu, i), 15);
        ref var d = ref Xmm(cpu, i, 0);
        d = ToXmm(Vector128.ShiftRightArithmetic(ToVector(d).AsInt16(), (int)count));
    }

    private static void ShiftRightArithmeticDwords(CpuCore cpu, ref Instruction i)
    {
        ulong count = Math.Min(ShiftCount(cpu, i), 31);
        ref var d = ref Xmm(cpu, i, 0);
        d = ToXmm(Vector128.ShiftRightArithmetic(ToVector(d).AsInt32(), (int)count));
    }
}
