using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions.X87;
using Sharpvisor.Machine.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.Instructions.X87;

/// <summary>
/// What the differential oracle cannot reach: system-state dependent faults (#NM from CR0, #GP from FXSAVE alignment
/// and MXCSR, CR4.OSFXSR), #MF raised by the instruction after the one that flagged the exception, the last
/// instruction pointers, and the FpuState mapper.
/// </summary>
public class X87InstructionTests
{
    private const ulong Data = 0x20000;

    [Fact]
    public void AnUnmaskedExceptionIsReportedByTheNextWaitingInstruction()
    {
        using var h = new EmulatorHarness();
        h.Ram.Write(Data, BitConverter.GetBytes((ushort)0x37B)); // zero-divide unmasked
        ulong end = h.Load(a =>
        {
            a.mov(rsi, Data);
            a.fninit();
            a.fldcw(__word_ptr[rsi]);
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);      // 1 / 0: ZE flagged, ES set, nothing stored, nothing popped
            a.fnstsw(ax);           // non-waiting: runs
            a.fld1();               // waiting: #MF
        });
        Assert.Equal(StopReason.Fault, h.RunTo(end));
        Assert.Equal(GuestFault.FloatingPoint, h.Interpreter.LastFault!.Vector);
        ushort status = (ushort)h.Cpu.Gpr[CpuCore.Rax];
        Assert.Equal(FpuStatus.ZeroDivide | FpuStatus.ErrorSummary | FpuStatus.Busy, status & 0x80FF);
        Assert.Equal(6, (status >> 11) & 7); // two pushes, no pop
        Assert.Equal(0UL, X87Core.St(h.Cpu, 0).Significand); // ST0 still holds the zero divisor

        // FNCLEX clears the pending exception; the faulting FLD1 then runs.
        ulong after = h.Load(a => a.fnclex(), end);
        h.Cpu.Rip = end;
        h.RunTo(after);
        Assert.Equal(0, h.Cpu.FpuStatusWord & 0x80FF);
    }

    [Theory]
    [InlineData(0x8UL, true)]   // CR0.TS
    [InlineData(0x4UL, true)]   // CR0.EM
    [InlineData(0x2UL, false)]  // CR0.MP alone
    public void X87InstructionsRaiseDeviceNotAvailableUnderTaskSwitchedOrEmulation(ulong cr0Bits, bool faults)
    {
        using var h = new EmulatorHarness();
        h.Cpu.Cr0 |= cr0Bits;
        ulong end = h.Load(a => a.fld1());
        if (faults)
        {
            Assert.Equal(StopReason.Fault, h.RunTo(end));
            Assert.Equal(GuestFault.DeviceNotAvailable, h.Interpreter.LastFault!.Vector);
        }
        else h.RunTo(end);
    }

    [Fact]
    public void WaitRaisesDeviceNotAvailableOnlyWithMonitorAndTaskSwitched()
    {
        using var h = new EmulatorHarness();
        h.Cpu.Cr0 |= 0x8;
        ulong end = h.Load(a => a.wait());
        h.RunTo(end);
        h.Cpu.Cr0 |= 0x2;
        h.Cpu.Rip = EmulatorHarness.CodeAddress;
        Assert.Equal(StopReason.Fault, h.RunTo(end));
        Assert.Equal(GuestFault.DeviceNotAvailable, h.Interpreter.LastFault!.Vector);
    }

    [Fact]
    public void FxsaveRequiresSixteenByteAlignmentAndFxrstorRejectsReservedMxcsrBits()
    {
        using var h = new EmulatorHarness();
        h.Cpu.Cr4 |= FxsaveInstructions.Cr4Osfxsr;
        ulong end = h.Load(a =>
        {
            a.mov(rsi, Data + 8);
            a.fxsave64(__[rsi]);
        });
        Assert.Equal(StopReason.Fault, h.RunTo(end));
        Assert.Equal(GuestFault.GeneralProtection, h.Interpreter.LastFault!.Vector);

        var image = new byte[512];
        BitConverter.GetBytes(0x1_1F80u).CopyTo(image, 24);
        h.Ram.Write(Data, image);
        ulong end2 = h.Load(a =>
        {
            a.mov(rsi, Data);
            a.fxrstor64(__[rsi]);
        });
        h.Cpu.Rip = EmulatorHarness.CodeAddress;
        Assert.Equal(StopReason.Fault, h.RunTo(end2));
        Assert.Equal(GuestFault.GeneralProtection, h.Interpreter.LastFault!.Vector);
    }

    [Fact]
    public void FxsaveAndFxrstorMoveTheWholeStateAndTheXmmPartOnlyWithOsfxsr()
    {
        using var h = new EmulatorHarness();
        h.Ram.Write(Data, Enumerable.Repeat((byte)0xAA, 512).ToArray());
        h.Cpu.Xmm[3].Low = 0x1122334455667788;
        h.Cpu.Mxcsr = 0x3F80;
        ulong end = h.Load(a =>
        {
            a.mov(rsi, Data);
            a.fninit();
            a.fld1();
            a.fldpi();
            a.fxsave64(__[rsi]);
        });
        h.RunTo(end);
        var image = new byte[512];
        h.Ram.Read(Data, image);
        Assert.Equal(0x37F, BitConverter.ToUInt16(image, 0));
        Assert.Equal(6, (BitConverter.ToUInt16(image, 2) >> 11) & 7);
        Assert.Equal(0xC0, image[4]);                              // R6 and R7 valid
        Assert.Equal(0xC90FDAA22168C235UL, BitConverter.ToUInt64(image, 32)); // ST0 = pi, rounded to nearest
        Assert.Equal(0x4000, BitConverter.ToUInt16(image, 40));
        Assert.Equal(0x8000_0000_0000_0000UL, BitConverter.ToUInt64(image, 48)); // ST1 = 1
        Assert.Equal(0x1EB, BitConverter.ToUInt16(image, 6));       // FOP of FLDPI (D9 EB)
        Assert.Equal(0xAAAAAAAAu, BitConverter.ToUInt32(image, 24)); // CR4.OSFXSR clear: MXCSR and XMM untouched
        Assert.Equal(0xAAAAAAAAAAAAAAAAUL, BitConverter.ToUInt64(image, 160 + 48));

        h.Cpu.Cr4 |= FxsaveInstructions.Cr4Osfxsr;
        h.Cpu.Rip = EmulatorHarness.CodeAddress;
        h.RunTo(end);
        h.Ram.Read(Data, image);
        Assert.Equal(0x3F80u, BitConverter.ToUInt32(image, 24));
        Assert.Equal(0xFFFFu, BitConverter.ToUInt32(image, 28));
        Assert.Equal(0x1122334455667788UL, BitConverter.ToUInt64(image, 160 + 48));
        Assert.Equal(0xAAAAAAAAAAAAAAAAUL, BitConverter.ToUInt64(image, 416)); // never written

        // Restore into a fresh state.
        ulong end2 = h.Load(a =>
        {
            a.fninit();
            a.mov(rsi, Data);
            a.fxrstor64(__[rsi]);
        }, 0x30000);
        h.Cpu.Xmm[3].Low = 0;
        h.Cpu.Mxcsr = 0x1F80;
        h.Cpu.Rip = 0x30000;
        h.RunTo(end2);
        Assert.Equal(0x1122334455667788UL, h.Cpu.Xmm[3].Low);
        Assert.Equal(0x3F80u, h.Cpu.Mxcsr);
        Assert.Equal(0x8000_0000_0000_0000UL, X87Core.St(h.Cpu, 1).Significand);
        Assert.Equal((byte)0xC0, h.Cpu.FpuTagValid);
    }

    [Fact]
    public void TheLastInstructionAndDataPointersFollowNonControlInstructions()
    {
        using var h = new EmulatorHarness();
        h.Ram.Write(Data, BitConverter.GetBytes(2.5));
        ulong end = h.Load(a =>
        {
            a.mov(rsi, Data);
            a.fninit();
            a.fld(__qword_ptr[rsi + 0]);
            a.fnstcw(__word_ptr[rsi + 16]); // control instruction: the pointers stay
        });
        // mov rsi, imm64 (10 bytes) + fninit (2 bytes): FLD starts at +12.
        ulong fldAddress = EmulatorHarness.CodeAddress + 12;
        h.RunTo(end);
        Assert.Equal(fldAddress, h.Cpu.FpuLastInstructionPointer);
        Assert.Equal(Data, h.Cpu.FpuLastDataPointer);
        Assert.Equal(0x506, h.Cpu.FpuLastOpcode); // DD /0 with ModRM 06h
        var word = new byte[2];
        h.Ram.Read(Data + 16, word);
        Assert.Equal(0x37F, BitConverter.ToUInt16(word));
    }

    [Fact]
    public void TheMapperRoundTripsTheX87PartOfFpuState()
    {
        var registers = new byte[128];
        new Random(5).NextBytes(registers);
        var state = new FpuState
        {
            ControlWord = 0x0C7F, StatusWord = 0x3A41, AbridgedTagWord = 0x83, LastOpcode = 0x5E9,
            LastInstructionPointer = 0xFFFF_FFFF_8100_1234, LastDataPointer = 0x7FFE_0000_1000, X87Registers = registers,
            Mxcsr = 0x1FA0,
        };
        using var h = new EmulatorHarness();
        X87StateMapper.ToCore(state, h.Cpu);
        Assert.Equal(7, X87Core.Top(h.Cpu));
        Assert.Equal(BitConverter.ToUInt64(registers, 16), X87Core.St(h.Cpu, 1).Significand);
        FpuState back = X87StateMapper.FromCore(h.Cpu, new FpuState { Mxcsr = 0x1FA0 });
        Assert.Equal((state.ControlWord, state.StatusWord, state.AbridgedTagWord, state.LastOpcode, state.LastInstructionPointer, state.LastDataPointer),
            (back.ControlWord, back.StatusWord, back.AbridgedTagWord, back.LastOpcode, back.LastInstructionPointer, back.LastDataPointer));
        for (int k = 0; k < 8; k++) Assert.Equal(registers.AsSpan(16 * k, 10).ToArray(), back.X87Registers.AsSpan(16 * k, 10).ToArray());
        Assert.Equal(0x1FA0u, back.Mxcsr);
    }
}
