using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.SystemMode;

/// <summary>
/// Near branches, CALL/RET, PUSH/POP, LOOP and string instructions in real mode and 32-bit protected mode, where code is
/// fetched at CS.base + IP, targets wrap at the operand size and the stack is SS.base + SP or ESP (the 64-bit oracle
/// cannot reach these modes).
/// </summary>
public class SixteenAndThirtyTwoBitCodeTests
{
    private static ulong Assemble(EmulatorHarness h, int bitness, ulong linear, ulong ip, Action<Assembler> emit)
    {
        var a = new Assembler(bitness);
        emit(a);
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), ip);
        h.Ram.Write(linear, stream.ToArray());
        return ip + (ulong)stream.Length;
    }

    /// <summary>A core as a start-up IPI with <paramref name="vector"/> leaves it: real mode, CS = vector x 256, IP = 0.</summary>
    private static EmulatorHarness RealMode(byte vector)
    {
        var h = new EmulatorHarness();
        ProcessorReset.Init(h.Cpu);
        ProcessorReset.StartupIpi(h.Cpu, vector);
        h.Cpu.DeliverExceptions = false;
        return h;
    }

    [Fact]
    public void RealModeCodeRunsAtTheCodeSegmentBaseWithSixteenBitCallsAndStack()
    {
        using var h = RealMode(0x98);
        var cpu = h.Cpu;
        ulong         end = Assemble(h, 16, 0x98000, 0, a =>
        {
            var sub = a.CreateLabel();
            var loop = a.CreateLabel();
            var done = a.CreateLabel();
            var tail = a.CreateLabel();
            a.mov(ax, cs);
            a.mov(ss, ax);
            a.mov(ds, ax);
            a.mov(sp, 0x6000);
            a.mov(cx, 3);
            a.xor(bx, bx);
            a.Label(ref loop);
            a.call(sub);
            a.loop(loop);
            a.push(0x1234);
            a.pop(dx);
            a.inc(si);
            a.dec(di);
            a.cmp(bx, 6);
            a.jne(done);
            a.mov(__word_ptr[0x100], bx);
            a.Label(ref done);
            a.jmp(tail);
            a.Label(ref sub);
            a.add(bx, 2);
            a.ret();
            a.Label(ref tail);
            a.nop();
        }) - 1;
        Assert.Equal(StopReason.BudgetExhausted, h.RunTo(end));
        Assert.Equal(0x98000UL, cpu.Segments[CpuCore.Ss].Base);
        Assert.Equal(0x6000UL, cpu.Gpr[CpuCore.Rsp]);
        Assert.Equal(6UL, cpu.Gpr[CpuCore.Rbx]);
        Assert.Equal(0UL, cpu.Gpr[CpuCore.Rcx]);
        Assert.Equal(0x1234UL, cpu.Gpr[CpuCore.Rdx] & 0xFFFF);
        Assert.Equal(1UL, cpu.Gpr[CpuCore.Rsi]);
        Assert.Equal(0xFFFFUL, cpu.Gpr[CpuCore.Rdi]);
        Assert.Equal(6UL, h.Ram.ReadUInt64(0x98100) & 0xFFFF);  // DS.base + 0x100
        Assert.Equal(0x1234UL, h.Ram.ReadUInt64(0x98000 + 0x6000 - 2) & 0xFFFF); // the pushed word, at SS.base + SP
    }
}
