using Sharpvisor.Engines.Emulator.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.Instructions.Sse;

/// <summary>
/// The SSE faults the differential oracle cannot provoke (its cases align 128-bit operands and mask every MXCSR
/// exception): #GP for misaligned aligned-form operands and reserved MXCSR bits, and #XM for unmasked exceptions.
/// </summary>
public class SseFaultTests
{
    private const ulong Data = 0x20000;

    [Theory]
    [InlineData(0, false)]
    [InlineData(8, true)]
    public void AlignedMovesFaultOnMisalignedOperandsAndUnalignedMovesDoNot(int offset, bool expectFault)
    {
        using var h = new EmulatorHarness();
        h.Ram.Write(Data, Enumerable.Range(1, 32).Select(b => (byte)b).ToArray());
        ulong end = h.Load(a =>
        {
            a.mov(rsi, Data + (ulong)offset);
            a.movdqu(xmm1, __xmmword_ptr[rsi]);
            a.movdqa(xmm0, __xmmword_ptr[rsi]);
        });
        if (expectFault)
        {
            Assert.Equal(StopReason.Fault, h.RunTo(end));
            Assert.Equal(GuestFault.GeneralProtection, h.Interpreter.LastFault!.Vector);
            Assert.Equal(0UL, h.Cpu.Xmm[0].Low);
        }
        else
        {
            h.RunTo(end);
            Assert.Equal(0x0807060504030201UL, h.Cpu.Xmm[0].Low);
        }
        Assert.Equal(0x0807060504030201UL + 0x0808080808080808UL * (ulong)(offset / 8), h.Cpu.Xmm[1].Low);
    }

    [Fact]
    public void PackedArithmeticFaultsOnAMisalignedMemoryOperand()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a =>
        {
            a.mov(rsi, Data + 4);
            a.addps(xmm0, __xmmword_ptr[rsi]);
        });
        Assert.Equal(StopReason.Fault, h.RunTo(end));
        Assert.Equal(GuestFault.GeneralProtection, h.Interpreter.LastFault!.Vector);
    }

    [Fact]
    public void LdmxcsrRejectsReservedBitsAndStmxcsrReadsBack()
    {
        using var h = new EmulatorHarness();
        h.Ram.Write(Data, BitConverter.GetBytes(0x7F80u | 0x8040u));
        h.Ram.Write(Data + 8, BitConverter.GetBytes(0x1_1F80u));
        ulong afterLoad = h.Load(a =>
        {
            a.mov(rsi, Data);
            a.ldmxcsr(__dword_ptr[rsi]);
            a.stmxcsr(__dword_ptr[rsi + 4]);
        });
        h.RunTo(afterLoad);
        Assert.Equal(0xFFC0u, h.Cpu.Mxcsr);
        var stored = new byte[4];
        h.Ram.Read(Data + 4, stored);
        Assert.Equal(0xFFC0u, BitConverter.ToUInt32(stored));

        ulong end = h.Load(a => a.ldmxcsr(__dword_ptr[rsi + 8]), afterLoad);
        Assert.Equal(StopReason.Fault, h.RunTo(end));
        Assert.Equal(GuestFault.GeneralProtection, h.Interpreter.LastFault!.Vector);
        Assert.Equal(0xFFC0u, h.Cpu.Mxcsr);
    }

    [Fact]
    public void AnUnmaskedDivideByZeroRaisesXmAndLeavesTheDestination()
    {
        using var h = new EmulatorHarness();
        h.Cpu.Mxcsr = 0x1F80 & ~0x200u; // ZM clear
        h.Cpu.Xmm[0].Low = BitConverter.DoubleToUInt64Bits(1.0);
        h.Cpu.Xmm[1].Low = 0;
        ulong end = h.Load(a => a.divsd(xmm0, xmm1));
        Assert.Equal(StopReason.Fault, h.RunTo(end));
        Assert.Equal(GuestFault.SimdFloatingPoint, h.Interpreter.LastFault!.Vector);
        Assert.Equal(1.0, BitConverter.UInt64BitsToDouble(h.Cpu.Xmm[0].Low));
        Assert.Equal(0x1D84u, h.Cpu.Mxcsr); // ZE recorded
        Assert.Equal(EmulatorHarness.CodeAddress, h.Cpu.Rip);
    }

    [Fact]
    public void MaskedDivideByZeroGivesInfinity()
    {
        using var h = new EmulatorHarness();
        h.Cpu.Xmm[0].Low = BitConverter.DoubleToUInt64Bits(-1.0);
        ulong end = h.Load(a => a.divsd(xmm0, xmm1));
        h.RunTo(end);
        Assert.Equal(double.NegativeInfinity, BitConverter.UInt64BitsToDouble(h.Cpu.Xmm[0].Low));
        Assert.Equal(0x1F84u, h.Cpu.Mxcsr);
    }
}
