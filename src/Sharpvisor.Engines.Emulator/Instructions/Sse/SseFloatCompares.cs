using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Instructions.Sse.XmmOperands;

namespace Sharpvisor.Engines.Emulator.Instructions.Sse;

/// <summary>
/// SSE/SSE2 float comparisons: (U)COMISS/(U)COMISD into ZF PF CF (OF SF AF cleared), and CMPPS/CMPPD/CMPSS/CMPSD
/// with the eight predicates of imm8[2:0] into all-ones/all-zeros lane masks.
/// </summary>
public static class SseFloatCompares
{
    private const ulong Carry = 0x1, Parity = 0x4, Auxiliary = 0x10, Zero = 0x40, Sign = 0x80, OverflowFlag = 0x800;

    public static unsafe void Register(InstructionTable t)
    {
        t.Set(Code.Ucomiss_xmm_xmmm32, &Ucomiss);
        t.Set(Code.Comiss_xmm_xmmm32, &Comiss);
        t.Set(Code.Ucomisd_xmm_xmmm64, &Ucomisd);
        t.Set(Code.Comisd_xmm_xmmm64, &Comisd);
        t.Set(Code.Cmpps_xmm_xmmm128_imm8, &Cmpps);
        t.Set(Code.Cmppd_xmm_xmmm128_imm8, &Cmppd);
        t.Set(Code.Cmpss_xmm_xmmm32_imm8, &Cmpss);
        t.Set(Code.Cmpsd_xmm_xmmm64_imm8, &Cmpsd);
    }

    private static void CompareIntoFlags(CpuCore cpu, in Instruction i, bool isDouble, bool signalOnQuietNaN)
    {
        ulong b = isDouble ? Read64(cpu, i, 1) : Read32(cpu, i, 1);
        ulong a = isDouble ? Xmm(cpu, i, 0).Low : (uint)Xmm(cpu, i, 0).Low;
        uint flags = 0, inputFlags = 0, mxcsr = cpu.Mxcsr;
        a = SseFloat.Input(a, isDouble, mxcsr, ref inputFlags);
        b = SseFloat.Input(b, isDouble, mxcsr, ref inputFlags);
        ulong result;
        if (SseFloat.IsNaN(a, isDouble) || SseFloat.IsNaN(b, isDouble))
        {
            // With a NaN operand the host reports no denormal operand, only #I where the predicate signals.
            if (signalOnQuietNaN || SseFloat.IsSignallingNaN(a, isDouble) || SseFloat.IsSignallingNaN(b, isDouble)) flags |= SseFloat.Invalid;
            result = Zero | Parity | Carry;
        }
        else
        {
            flags |= inputFlags;
            result = SseFloat.Compare(a, b, isDouble) switch { < 0 => Carry, 0 => Zero, _ => 0 };
        }
        SseFloatArithmetic.Commit(cpu, flags);
        cpu.Flags.Load((cpu.Flags.ToBits() & ~(Carry | Parity | Auxiliary | Zero | Sign | OverflowFlag)) | result);
    }

    private static void Ucomiss(CpuCore cpu, ref Instruction i) => CompareIntoFlags(cpu, i, false, false);
    private static void Comiss(CpuCore cpu, ref Instruction i) => CompareIntoFlags(cpu, i, false, true);
    private static void Ucomisd(CpuCore cpu, ref Instruction i) => CompareIntoFlags(cpu, i, true, false);
    private static void Comisd(CpuCore cpu, ref Instruction i) => CompareIntoFlags(cpu, i, true, true);

    /// <summary>One lane: all ones when predicate holds. LT, LE, NLT, NLE signal #I on any NaN, the others on SNaN only.</summary>
    private static ulong CompareLane(ulong a, ulong b, bool isDouble, int predicate, uint mxcsr, ref uint flags)
    {
        uint inputFlags = 0;
        a = SseFloat.Input(a, isDouble, mxcsr, ref inputFlags);
        b = SseFloat.Input(b, isDouble, mxcsr, ref inputFlags);
        bool unordered = SseFloat.IsNaN(a, isDouble) || SseFloat.IsNaN(b, isDouble);
        bool signalling = (predicate & 3) is 1 or 2;
        if (unordered && (signalling || SseFloat.IsSignallingNaN(a, isDouble) || SseFloat.IsSignallingNaN(b, isDouble))) flags |= SseFloat.Invalid;
        if (!unordered) flags |= inputFlags;
        int order = unordered ? 0 : SseFloat.Compare(a, b, isDouble);
        bool holds = predicate switch
        {
            0 => !unordered && order == 0,
            1 => !unordered && order < 0,
            2 => !unordered && order <= 0,
            3 => unordered,
            4 => unordered || order != 0,
            5 => unordered || order >= 0,
            6 => unordered || order > 0,
            _ => !unordered,
        };
        return holds ? (isDouble ? ulong.MaxValue : 0xFFFF_FFFFUL) : 0;
    }

    private static void Cmpps(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        ref var d = ref Xmm(cpu, i, 0);
        int predicate = i.Immediate8 & 7;
        uint flags = 0, mxcsr = cpu.Mxcsr;
        ulong r0 = CompareLane((uint)d.Low, (uint)s.Low, false, predicate, mxcsr, ref flags);
        ulong r1 = CompareLane(d.Low >> 32, s.Low >> 32, false, predicate, mxcsr, ref flags);
        ulong r2 = CompareLane((uint)d.High, (uint)s.High, false, predicate, mxcsr, ref flags);
        ulong r3 = CompareLane(d.High >> 32, s.High >> 32, false, predicate, mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        d.Low = r0 | r1 << 32;
        d.High = r2 | r3 << 32;
    }

    private static void Cmppd(CpuCore cpu, ref Instruction i)
    {
        var s = Read128(cpu, i, 1);
        ref var d = ref Xmm(cpu, i, 0);
        int predicate = i.Immediate8 & 7;
        uint flags = 0, mxcsr = cpu.Mxcsr;
        ulong low = CompareLane(d.Low, s.Low, true, predicate, mxcsr, ref flags);
        ulong high = CompareLane(d.High, s.High, true, predicate, mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        d.Low = low;
        d.High = high;
    }

    private static void Cmpss(CpuCore cpu, ref Instruction i)
    {
        ulong b = Read32(cpu, i, 1);
        ref var d = ref Xmm(cpu, i, 0);
        uint flags = 0;
        ulong r = CompareLane((uint)d.Low, b, false, i.Immediate8 & 7, cpu.Mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        d.Low = (d.Low & ~0xFFFF_FFFFUL) | r;
    }

    private static void Cmpsd(CpuCore cpu, ref Instruction i)
    {
        ulong b = Read64(cpu, i, 1);
        ref var d = ref Xmm(cpu, i, 0);
        uint flags = 0;
        ulong r = CompareLane(d.Low, b, true, i.Immediate8 & 7, cpu.Mxcsr, ref flags);
        SseFloatArithmetic.Commit(cpu, flags);
        d.Low = r;
    }
}
