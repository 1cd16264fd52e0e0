using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.SystemMode;

/// <summary>Event delivery and mode bookkeeping outside 64-bit mode.</summary>
public class LegacyModeTests
{
    private static ulong Assemble(EmulatorHarness h, int bitness, ulong address, Action<Assembler> emit)
    {
        var a = new Assembler(bitness);
        emit(a);
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), address);
        h.Ram.Write(address, stream.ToArray());
        return address + (ulong)stream.Length;
    }

    [Fact]
    public void ProtectedModeDeliversThroughA32BitGateWithAThreeWordFrame()
    {
        using var h = new EmulatorHarness();
        var cpu = h.Cpu;
        h.Ram.WriteUInt64(0x1008, 0x00CF_9B00_0000_FFFF); // 0x08: flat 32-bit code
        h.Ram.WriteUInt64(0x1010, 0x00CF_9300_0000_FFFF); // 0x10: flat data
        const ulong handler = 0x30000;
        h.Ram.WriteUInt64(0x2000 + 6 * 8, (handler & 0xFFFF) | (0x08UL << 16) | (0x8EUL << 40) | ((handler >> 16) << 48));
        Assemble(h, 32, handler, a => a.hlt());
        ulong end = Assemble(h, 32, 0x10000, a => { a.mov(eax, 1); a.ud2(); });
        cpu.Cr0 = 0x11;
        cpu.GdtBase = 0x1000; cpu.GdtLimit = 0x17;
        cpu.IdtBase = 0x2000; cpu.IdtLimit = 0x7FF;
        cpu.Segments[CpuCore.Cs] = Segmentation.FromDescriptor(0x08, 0x00CF_9B00_0000_FFFF);
        cpu.Segments[CpuCore.Ss] = Segmentation.FromDescriptor(0x10, 0x00CF_9300_0000_FFFF);
        cpu.Gpr[CpuCore.Rsp] = 0x8000;
        cpu.Rflags = 0x202;
        cpu.DeliverExceptions = true;
        cpu.UpdateBitness();
        Assert.Equal(32, cpu.Bitness);
        Assert.Equal(StopReason.Halted, h.Interpreter.Run(10));
        Assert.Equal(handler + 1, cpu.Rip);
        Assert.Equal(0x8000UL - 12, cpu.Gpr[CpuCore.Rsp]);
        Assert.Equal(end - 2, h.Ram.ReadUInt64(0x8000 - 12) & 0xFFFF_FFFF);   // EIP of the UD2
        Assert.Equal(0x08UL, h.Ram.ReadUInt64(0x8000 - 8) & 0xFFFF_FFFF);
        Assert.Equal(0x202UL, h.Ram.ReadUInt64(0x8000 - 4) & 0xFFFF_FFFF);
        Assert.False(cpu.InterruptsEnabled);
    }

    [Fact]
    public void RealModeIntUsesTheInterruptVectorTableAndIretReturns()
    {
        using var h = new EmulatorHarness();
        var cpu = h.Cpu;
        ProcessorReset.Init(cpu);
        ProcessorReset.StartupIpi(cpu, 0);      // CS = 0, IP = 0: the fetch is flat
        Assert.Equal(16, cpu.Bitness);
        cpu.Rip = 0x7000;
        cpu.Gpr[CpuCore.Rsp] = 0x6000;
        cpu.DeliverExceptions = true;
        h.Ram.WriteUInt32(0x21 * 4, 0x0000_7100); // 0000:7100
        Assemble(h, 16, 0x7100, a => { a.mov(bx, 0x55); a.iret(); });
        ulong end = Assemble(h, 16, 0x7000, a => { a.sti(); a.@int(0x21); a.mov(cx, 1); });
        h.RunTo(end);
        Assert.Equal(0x55UL, cpu.Gpr[CpuCore.Rbx]);
        Assert.Equal(1UL, cpu.Gpr[CpuCore.Rcx]);
        Assert.Equal(0x6000UL, cpu.Gpr[CpuCore.Rsp]);
        Assert.True(cpu.InterruptsEnabled);
        Assert.Equal(0x7003UL, h.Ram.ReadUInt64(0x6000 - 6) & 0xFFFF);          // IP after INT 21h was pushed
    }

    [Fact]
    public void InitAndStartupIpiGiveTheRealModeEntryState()
    {
        using var m = new SystemMachine();
        var cpu = m.Cpu;
        cpu.Lstar = 0x1234;
        ProcessorReset.Init(cpu);
        Assert.Equal(0xFFFF_0000UL + 0xFFF0, cpu.Segments[CpuCore.Cs].Base + cpu.Rip);
        Assert.Equal(0x60FUL, cpu.Gpr[CpuCore.Rdx]);       // the signature from CPUID leaf 1
        Assert.Equal(0UL, cpu.Efer);
        Assert.False(cpu.ProtectedMode);
        Assert.Equal(16, cpu.Bitness);
        Assert.Equal(0x1234UL, cpu.Lstar);                  // MSRs survive INIT
        ProcessorReset.StartupIpi(cpu, 0x9A);
        Assert.Equal((ushort)0x9A00, cpu.Segments[CpuCore.Cs].Selector);
        Assert.Equal(0x9A000UL, cpu.Segments[CpuCore.Cs].Base);
        Assert.Equal(0UL, cpu.Rip);
    }
}
