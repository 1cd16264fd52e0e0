using Sharpvisor.Engines.Emulator.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.Instructions;

/// <summary>
/// Encodings our CPU model runs as older instructions (the host has BMI1 and CET, so the oracle cannot check them):
/// TZCNT as BSF, ENDBR64 as a NOP.
/// </summary>
public class FeatureFallbackTests
{
    [Fact]
    public void Tzcnt_runs_as_bsf_without_bmi1()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a =>
        {
            a.mov(rbx, 0x50);
            a.tzcnt(rax, rbx);  // BSF: index of the lowest set bit, 4
            a.mov(rcx, 0x1234);
            a.xor(edx, edx);
            a.tzcnt(rcx, rdx);  // BSF of zero: ZF set, destination unchanged (TZCNT would give 64 and CF)
        });
        h.RunTo(end);
        Assert.Equal(4UL, h.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(0x1234UL, h.Cpu.Gpr[CpuCore.Rcx]);
        Assert.True(h.Cpu.Flags.Zero);
    }

    [Fact]
    public void Endbr64_does_nothing()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a =>
        {
            a.mov(rax, 7);
            a.endbr64();
            a.add(rax, 1);
        });
        h.RunTo(end);
        Assert.Equal(8UL, h.Cpu.Gpr[CpuCore.Rax]);
    }
}
