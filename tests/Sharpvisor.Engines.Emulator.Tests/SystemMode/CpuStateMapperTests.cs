using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Emulator.Tests.SystemMode;

public class CpuStateMapperTests
{
    [Fact]
    public void StateRoundTripsThroughTheEngineNeutralRecord()
    {
        using var m = new SystemMachine();
        var cpu = m.Cpu;
        ulong clock = 10_000;
        cpu.TimeStampCounter = () => clock;
        for (int r = 0; r < 16; r++) cpu.Gpr[r] = 0x1000UL * (ulong)(r + 1) + (ulong)r;
        cpu.Rip = 0xFFFF_FFFF_8100_0000;
        cpu.Rflags = 0x246 | 0x1;
        cpu.Cr2 = 0xDEAD_0000;
        cpu.Cr3 = 0x12_3000;
        cpu.Star = 0x0023_0010_0000_0000;
        cpu.Lstar = 0xFFFF_FFFF_8160_0000;
        cpu.SyscallFlagMask = 0x4700;
        cpu.FsBase = 0x7F00_0000_1000;
        cpu.KernelGsBase = 0xFFFF_8880_0000_0000;
        cpu.Pat = 0x0407_0501_0007_0406;
        cpu.TscAux = 3;
        cpu.TaskPriorityWithoutApic = 0x90;
        cpu.Mxcsr = 0x1FA0;
        cpu.Xmm[3].Low = 0x0123_4567_89AB_CDEF;
        cpu.Xmm[15].High = 0xFEDC_BA98_7654_3210;
        cpu.InterruptShadow = true;
        cpu.Halted = true;
        ModelSpecificRegisters.Write(cpu, ModelSpecificRegisters.Tsc, 50_000);

        CpuState state = CpuStateMapper.ToCpuState(cpu);
        Assert.Equal(0x2001UL, state.Registers.Rcx);                  // hardware number 1 = RCX
        Assert.Equal(SystemMachine.KernelCode, state.Cs.Selector);
        Assert.True(state.Cs.Long && state.Cs.Present && state.Cs.CodeOrData);
        Assert.Equal(0xB, state.Tr.Type);
        Assert.Equal(9UL, state.Cr8);
        Assert.Equal(VcpuRunState.Halted, state.RunState);
        Assert.Equal(1, state.Events.InterruptShadow);
        Assert.Contains(new ModelSpecificRegister(ModelSpecificRegisters.Lstar, cpu.Lstar), state.Msrs);
        Assert.Contains(new ModelSpecificRegister(ModelSpecificRegisters.Tsc, 50_000), state.Msrs);

        using var other = new SystemMachine();
        other.Cpu.TimeStampCounter = () => 7;          // another host clock: the guest TSC carries over
        other.Cpu.DeliverExceptions = true;
        CpuStateMapper.Apply(other.Cpu, state);
        var copy = CpuStateMapper.ToCpuState(other.Cpu);
        Assert.Equal(state.Registers, copy.Registers);
        Assert.Equal(state.Cs, copy.Cs);
        Assert.Equal(state.Ss, copy.Ss);
        Assert.Equal(state.Ds, copy.Ds);
        Assert.Equal(state.Fs, copy.Fs);
        Assert.Equal(state.Tr, copy.Tr);
        Assert.Equal(state.Ldt, copy.Ldt);
        Assert.Equal(state.Gdt, copy.Gdt);
        Assert.Equal(state.Idt, copy.Idt);
        Assert.Equal((state.Cr0, state.Cr2, state.Cr3, state.Cr4, state.Cr8, state.Efer), (copy.Cr0, copy.Cr2, copy.Cr3, copy.Cr4, copy.Cr8, copy.Efer));
        Assert.Equal(state.Msrs, copy.Msrs);
        Assert.Equal(state.Fpu.XmmRegisters, copy.Fpu.XmmRegisters);
        Assert.Equal(state.Fpu.Mxcsr, copy.Fpu.Mxcsr);
        Assert.Equal(state.Fpu.X87Registers, copy.Fpu.X87Registers);
        Assert.Equal(state.Fpu.ControlWord, copy.Fpu.ControlWord);
        Assert.Equal(state.Events, copy.Events);
        Assert.Equal(state.RunState, copy.RunState);
        Assert.Equal(0, other.Cpu.Cpl);
        Assert.Equal(64, other.Cpu.Bitness);
    }

    [Fact]
    public void ApplyTakesCplFromSsAndBitnessFromCs()
    {
        using var m = new SystemMachine();
        var state = CpuStateMapper.ToCpuState(m.Cpu) with
        {
            Cs = SegmentRegister.Code64(SystemMachine.UserCode64, dpl: 3),
            Ss = SegmentRegister.Data(SystemMachine.UserData, dpl: 3),
        };
        CpuStateMapper.Apply(m.Cpu, state);
        Assert.Equal(3, m.Cpu.Cpl);
        Assert.Equal(64, m.Cpu.Bitness);

        CpuStateMapper.Apply(m.Cpu, state with { Cs = SegmentRegister.Code32(0x10), Ss = SegmentRegister.Data(0x18), Efer = 0, Cr0 = 0x11 });
        Assert.Equal(0, m.Cpu.Cpl);
        Assert.Equal(32, m.Cpu.Bitness);

        CpuStateMapper.Apply(m.Cpu, new CpuState());                     // reset state: real mode
        Assert.Equal(16, m.Cpu.Bitness);
        Assert.Equal(0, m.Cpu.Cpl);
    }
}
