using System.Diagnostics;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.Decoding;

public class BlockCacheTests
{
    [Fact]
    public void AFullCacheStartsOverAndTheGuestRunsOnCorrectly()
    {
        using var h = new EmulatorHarness();
        // A loop of three blocks (each ends at a jump), run with room for two: the cache fills and starts over again and again.
        const int n = 1000;
        ulong end = h.Load(a =>
        {
            var loop = a.CreateLabel();
            var second = a.CreateLabel();
            var third = a.CreateLabel();
            a.mov(ecx, n);
            a.xor(eax, eax);
            a.Label(ref loop);
            a.add(rax, rcx);
            a.jmp(second);
            a.Label(ref second);
            a.inc(rdx);
            a.jmp(third);
            a.Label(ref third);
            a.dec(rcx);
            a.jnz(loop);
            a.ud2();
        }) - 2;
        var blocks = new Sharpvisor.Engines.Emulator.Decoding.BlockCache(h.Memory, Sharpvisor.Engines.Emulator.Instructions.InstructionTable.Default, maxBlocks: 2);
        var interpreter = new Interpreter(h.Cpu, blocks);
        h.Cpu.Rip = EmulatorHarness.CodeAddress;
        for (int i = 0; i < 100_000 && interpreter.Run(1000) != StopReason.Fault; i++) { }

        Assert.Equal(end, h.Cpu.Rip);
        Assert.Equal((ulong)n * (n + 1) / 2, h.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal((ulong)n, h.Cpu.Gpr[CpuCore.Rdx]);
        Assert.True(blocks.Flushes > 0);
        Assert.True(blocks.Count <= 2);
    }

    [Fact]
    public void AStoreFromAnotherThreadStopsTheRunningBlockAndIsSeen()
    {
        using var h = new EmulatorHarness();
        // loop: mov eax, 1 / cmp eax, 2 / jne loop. Another thread patches the immediate to 2: the loop must end.
        ulong end = h.Load(a =>
        {
            var loop = a.CreateLabel();
            a.Label(ref loop);
            a.mov(eax, 1);                   // b8 01 00 00 00: the immediate is at CodeAddress + 1
            a.cmp(eax, 2);
            a.jne(loop);
            a.ud2();                         // the run stops here, with a fault
        }) - 2;
        long retiredBeforePatch = 0;
        var patcher = new Thread(() =>
        {
            while (Volatile.Read(ref h.Cpu.InstructionsRetired) < 30_000) Thread.Yield();
            retiredBeforePatch = Volatile.Read(ref h.Cpu.InstructionsRetired);
            h.Memory.WriteBytes(EmulatorHarness.CodeAddress + 1, [2]);
        });
        patcher.Start();
        var clock = Stopwatch.StartNew();
        while (h.Interpreter.Run(1000) != StopReason.Fault && clock.Elapsed < TimeSpan.FromSeconds(30)) { }
        patcher.Join();

        Assert.Equal(end, h.Cpu.Rip);
        Assert.Equal(2UL, h.Cpu.Gpr[CpuCore.Rax]);
        Assert.True(h.Interpreter.Blocks.Invalidations > 0);
        Assert.True(retiredBeforePatch >= 30_000);
    }

    [Fact]
    public void StoresHammeringACodePageFromAnotherThreadLeaveTheCacheConsistent()
    {
        using var h = new EmulatorHarness();
        // Sum 1..n in a loop whose page another thread keeps writing to (data bytes after the code), so blocks are
        // invalidated, queued and re-decoded over and over while they run.
        const int n = 300_000;
        ulong end = h.Load(a =>
        {
            var loop = a.CreateLabel();
            a.mov(ecx, n);
            a.xor(eax, eax);
            a.Label(ref loop);
            a.add(rax, rcx);
            a.dec(rcx);
            a.jnz(loop);
            a.ud2();
        }) - 2;
        ulong dataInCodePage = EmulatorHarness.CodeAddress + 0x800;
        bool done = false;
        int stores = 0;
        var writer = new Thread(() =>
        {
            while (!Volatile.Read(ref done))
            {
                h.Memory.WriteBytes(dataInCodePage, [(byte)stores]);
                stores++;
            }
        });
        writer.Start();
        try
        {
            var clock = Stopwatch.StartNew();
            while (h.Interpreter.Run(500) != StopReason.Fault && clock.Elapsed < TimeSpan.FromSeconds(60)) { }
        }
        finally
        {
            Volatile.Write(ref done, true);
            writer.Join();
        }

        Assert.Equal(end, h.Cpu.Rip);
        Assert.Equal((ulong)n * (n + 1) / 2, h.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(2 + 3L * n, h.Cpu.InstructionsRetired);
        Assert.True(stores > 0);
    }

    [Fact]
    public void ARecentBlockIsNotReusedAfterItsPageIsWritten()
    {
        using var h = new EmulatorHarness();
        h.Load(a => a.mov(eax, 1));
        var first = h.Interpreter.Blocks.Get(h.Cpu);
        Assert.Same(first, h.Interpreter.Blocks.Get(h.Cpu)); // served from the cache
        h.Memory.WriteBytes(EmulatorHarness.CodeAddress + 1, [7]);
        Assert.False(first.Valid);
        var second = h.Interpreter.Blocks.Get(h.Cpu);
        Assert.NotSame(first, second);
        Assert.True(second.Valid);
        Assert.Equal(7u, second.Instructions[0].Immediate32);
        Assert.Equal(2, h.Interpreter.Blocks.BlocksDecoded);
    }
}
