using Sharpvisor.Engines.Emulator.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.Instructions;

/// <summary>
/// Cases the differential oracle cannot build: faults at chosen operands (#DE, CMPXCHG16B's alignment #GP), bit
/// strings reaching far from the operand, and the LAHF/SAHF round trip through chosen flags.
/// </summary>
public class MultiplyDivideBitAtomicTests
{
    private const ulong Data = 0x40000;

    [Fact]
    public void DivisionByZeroRaisesDivideErrorAtTheInstruction()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a =>
        {
            a.mov(eax, 7);
            a.xor(ecx, ecx);
            a.div(rcx);
        });
        Assert.Equal(StopReason.Fault, Run(h, end));
        Assert.Equal(GuestFault.DivideError, h.Interpreter.LastFault!.Vector);
        Assert.Equal(end - 3, h.Cpu.Rip); // div rcx is 3 bytes
        Assert.Equal(7UL, h.Cpu.Gpr[CpuCore.Rax]);
    }

    [Theory]
    [InlineData(1UL, 0UL, 1UL)]               // RDX:RAX = 2^64, / 1 does not fit
    [InlineData(5UL, 0UL, 5UL)]               // high half equal to the divisor
    public void UnsignedQuotientOverflowRaisesDivideError(ulong rdx, ulong rax, ulong divisor)
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a => a.div(rbx));
        h.Cpu.Gpr[CpuCore.Rdx] = rdx;
        h.Cpu.Gpr[CpuCore.Rax] = rax;
        h.Cpu.Gpr[CpuCore.Rbx] = divisor;
        Assert.Equal(StopReason.Fault, Run(h, end));
        Assert.Equal(GuestFault.DivideError, h.Interpreter.LastFault!.Vector);
    }

    [Fact]
    public void SignedDivisionOfTheMostNegativeValueByMinusOneRaisesDivideError()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a => a.idiv(rbx));
        h.Cpu.Gpr[CpuCore.Rdx] = ulong.MaxValue;               // RDX:RAX = -2^63
        h.Cpu.Gpr[CpuCore.Rax] = 0x8000_0000_0000_0000;
        h.Cpu.Gpr[CpuCore.Rbx] = ulong.MaxValue;               // -1
        Assert.Equal(StopReason.Fault, Run(h, end));
        Assert.Equal(GuestFault.DivideError, h.Interpreter.LastFault!.Vector);

        using var h128 = new EmulatorHarness();
        end = h128.Load(a => a.idiv(rbx));
        h128.Cpu.Gpr[CpuCore.Rdx] = 0x8000_0000_0000_0000;     // RDX:RAX = -2^127, the 128-bit minimum
        h128.Cpu.Gpr[CpuCore.Rax] = 0;
        h128.Cpu.Gpr[CpuCore.Rbx] = ulong.MaxValue;
        Assert.Equal(StopReason.Fault, Run(h128, end));
        Assert.Equal(GuestFault.DivideError, h128.Interpreter.LastFault!.Vector);
    }

    [Fact]
    public void SignedDivisionTruncatesTowardZero()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a => a.idiv(rbx));
        h.Cpu.Gpr[CpuCore.Rdx] = ulong.MaxValue;               // RDX:RAX = -7
        h.Cpu.Gpr[CpuCore.Rax] = unchecked((ulong)-7L);
        h.Cpu.Gpr[CpuCore.Rbx] = 2;
        h.RunTo(end);
        Assert.Equal(unchecked((ulong)-3L), h.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(unchecked((ulong)-1L), h.Cpu.Gpr[CpuCore.Rdx]);
    }

    [Theory]
    [InlineData(-1L, -4L, 31)]          // one bit before the operand: bit 31 of the dword below it
    [InlineData(1000L, 124L, 8)]        // 1000 = 31 * 32 + 8
    [InlineData(-33L, -8L, 31)]
    public void BitStringOffsetsReachBeyondTheMemoryOperand(long bitOffset, long byteDelta, int bit)
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a =>
        {
            a.bts(__dword_ptr[rbx], ecx);
            a.btr(__dword_ptr[rbx], ecx); // clears it again: CF = 1 (it was set)
            a.btc(__dword_ptr[rbx], ecx); // sets it once more
            a.bt(__dword_ptr[rbx], ecx);
        });
        h.Cpu.Gpr[CpuCore.Rbx] = Data;
        h.Cpu.Gpr[CpuCore.Rcx] = 0xFFFF_FFFF_0000_0000 | (uint)(int)bitOffset; // upper half ignored: a 32-bit offset
        h.RunTo(end);
        ulong unit = (ulong)((long)Data + byteDelta);
        Assert.Equal(1UL << bit, h.Memory.Read(unit, 4));
        Assert.True(h.Cpu.Flags.Carry);
        Assert.Equal(0UL, h.Memory.Read(Data, 4) & (byteDelta == 0 ? 0 : ulong.MaxValue));
    }

    [Fact]
    public void RegisterBitOffsetsWrapAroundTheRegisterWidth()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a => a.bts(eax, ecx));
        h.Cpu.Gpr[CpuCore.Rcx] = 35; // 35 mod 32 = 3
        h.RunTo(end);
        Assert.Equal(8UL, h.Cpu.Gpr[CpuCore.Rax]);
        Assert.False(h.Cpu.Flags.Carry);
    }

    [Fact]
    public void Cmpxchg16bExchangesOnlyOnEqualityAndFaultsWhenMisaligned()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a =>
        {
            a.cmpxchg16b(__xmmword_ptr[rdi]);     // equal: stores RCX:RBX
            a.cmpxchg16b(__xmmword_ptr[rdi]);     // now unequal: loads RDX:RAX
            a.cmpxchg16b(__xmmword_ptr[rdi + 8]); // misaligned: #GP(0)
        });
        h.Memory.Write(Data, 8, 0x1111);
        h.Memory.Write(Data + 8, 8, 0x2222);
        h.Cpu.Gpr[CpuCore.Rdi] = Data;
        h.Cpu.Gpr[CpuCore.Rax] = 0x1111;
        h.Cpu.Gpr[CpuCore.Rdx] = 0x2222;
        h.Cpu.Gpr[CpuCore.Rbx] = 0x3333;
        h.Cpu.Gpr[CpuCore.Rcx] = 0x4444;
        Assert.Equal(StopReason.BudgetExhausted, h.Interpreter.Run(1));
        Assert.True(h.Cpu.Flags.Zero);
        Assert.Equal(0x3333UL, h.Memory.Read(Data, 8));
        Assert.Equal(0x4444UL, h.Memory.Read(Data + 8, 8));
        Assert.Equal(StopReason.BudgetExhausted, h.Interpreter.Run(1));
        Assert.False(h.Cpu.Flags.Zero);
        Assert.Equal(0x3333UL, h.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(0x4444UL, h.Cpu.Gpr[CpuCore.Rdx]);
        Assert.Equal(StopReason.Fault, Run(h, end));
        Assert.Equal(GuestFault.GeneralProtection, h.Interpreter.LastFault!.Vector);
        Assert.Equal(0U, h.Interpreter.LastFault.ErrorCode);
    }

    [Fact]
    public void LahfAndSahfMoveTheLowFlagsThroughAh()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a =>
        {
            a.mov(eax, 0xD5 << 8); // SF ZF AF PF CF all set
            a.sahf();
            a.clc();
            a.cmc();               // CF back to 1
            a.std();
            a.mov(eax, 0);
            a.lahf();
        });
        h.Cpu.Rflags = LazyFlags.OverflowBit | 0x2; // OF survives SAHF
        h.RunTo(end);
        Assert.Equal(0xD7UL << 8, h.Cpu.Gpr[CpuCore.Rax]); // bit 1 reads as one
        Assert.Equal(LazyFlags.ArithmeticMask, h.Cpu.Rflags & LazyFlags.ArithmeticMask);
        Assert.True(h.Cpu.Direction);
    }

    private static StopReason Run(EmulatorHarness h, ulong end)
    {
        while (h.Cpu.Rip != end)
        {
            var reason = h.Interpreter.Run(1);
            if (reason == StopReason.Fault) return reason;
        }
        return StopReason.BudgetExhausted;
    }
}
