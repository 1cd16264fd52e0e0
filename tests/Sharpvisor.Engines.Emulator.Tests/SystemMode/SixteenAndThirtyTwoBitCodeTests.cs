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

    [Fact]
    public void ProtectedModeCodeUsesSegmentBasesAThirtyTwoBitStackAndIndirectTargets()
    {
        using var h = new EmulatorHarness();
        var cpu = h.Cpu;
        // Code based at 0x20000, stack segment based at 0x40000: offsets, not linear addresses, in EIP and ESP.
        ulong codeDescriptor = Descriptor(0x20000, 0xFFFFF, 0xC09B), stackDescriptor = Descriptor(0x40000, 0xFFFFF, 0xC093);
        cpu.Cr0 = 0x11;
        cpu.Segments[CpuCore.Cs] = Segmentation.FromDescriptor(0x08, codeDescriptor);
        cpu.Segments[CpuCore.Ss] = Segmentation.FromDescriptor(0x10, stackDescriptor);
        cpu.Segments[CpuCore.Ds] = Segmentation.FromDescriptor(0x10, stackDescriptor);
        cpu.Gpr[CpuCore.Rsp] = 0x1000;
        cpu.UpdateBitness();
        Assert.Equal(32, cpu.Bitness);
        cpu.Rip = 0x100;
        ulong end = Assemble(h, 32, 0x20100, 0x100, a =>
        {
            var sub = a.CreateLabel();
            var tail = a.CreateLabel();
            a.call(sub);                       // pushes EIP 0x105 at SS:0xFFC
            a.mov(eax, 0x200);
            a.mov(__dword_ptr[0x20], eax);     // DS:0x20 = 0x40020
            a.call(__dword_ptr[0x20]);         // indirect near call through memory: to 0x200
            a.jmp(tail);
            a.Label(ref sub);
            a.push(0x11223344);
            a.pop(ebx);
            a.ret(4);                          // and drops one more dword
            a.Label(ref tail);
            a.nop();
        }) - 1;
        Assemble(h, 32, 0x20200, 0x200, a => { a.mov(ecx, 7); a.ret(); });
        h.Ram.WriteUInt32(0x40000 + 0x1000 - 4, 0); // whatever RET 4 drops
        Assert.Equal(StopReason.BudgetExhausted, h.RunTo(end));
        Assert.Equal(0x11223344UL, cpu.Gpr[CpuCore.Rbx]);
        Assert.Equal(7UL, cpu.Gpr[CpuCore.Rcx]);
        Assert.Equal(0x1004UL, cpu.Gpr[CpuCore.Rsp]);                    // RET 4 released the extra dword
        Assert.Equal(0x105UL, h.Ram.ReadUInt32(0x40000 + 0x1000 - 4));    // the return address, an offset in CS
    }

    /// <summary>PUSHA stores AX..DI with the SP from before it; POPA restores all but SP, which it only moves past them.</summary>
    [Fact]
    public void PushaAndPopaSaveAndRestoreTheEightWordRegisters()
    {
        using var h = RealMode(0x98);
        var cpu = h.Cpu;
        ulong end = Assemble(h, 16, 0x98000, 0, a =>
        {
            a.mov(ax, cs);
            a.mov(ss, ax);
            a.mov(sp, 0x6000);
            a.mov(ax, 0x1111); a.mov(cx, 0x2222); a.mov(dx, 0x3333); a.mov(bx, 0x4444);
            a.mov(bp, 0x5555); a.mov(si, 0x6666); a.mov(di, 0x7777);
            a.pusha();
            a.xor(ax, ax); a.xor(cx, cx); a.xor(dx, dx); a.xor(bx, bx); a.xor(bp, bp); a.xor(si, si); a.xor(di, di);
            a.popa();
            a.nop();
        }) - 1;
        Assert.Equal(StopReason.BudgetExhausted, h.RunTo(end));
        Assert.Equal(new ulong[] { 0x1111, 0x2222, 0x3333, 0x4444, 0x6000, 0x5555, 0x6666, 0x7777 },
            new[] { CpuCore.Rax, CpuCore.Rcx, CpuCore.Rdx, CpuCore.Rbx, CpuCore.Rsp, CpuCore.Rbp, CpuCore.Rsi, CpuCore.Rdi }.Select(r => cpu.Gpr[r] & 0xFFFF));
        Assert.Equal(0x6000UL, h.Ram.ReadUInt64(0x98000 + 0x6000 - 10) & 0xFFFF); // the stored SP, fourth of eight words
        Assert.Equal(0x7777UL, h.Ram.ReadUInt64(0x98000 + 0x6000 - 16) & 0xFFFF); // DI, last
    }

    [Fact]
    public void SixteenBitBranchTargetsWrapAtSixtyFourKibibytes()
    {
        using var h = RealMode(0x10);
        var cpu = h.Cpu;
        cpu.Rip = 0xFFF0;
        // JMP rel16 forward past 0xFFFF lands at the low offset: IP wraps, CS stays.
        Assemble(h, 16, 0x10000 + 0xFFF0, 0xFFF0, a => a.jmp(0x0020));
        ulong end = Assemble(h, 16, 0x10000 + 0x20, 0x20, a => { a.mov(ax, 0x5A5A); a.nop(); }) - 1;
        Assert.Equal(StopReason.BudgetExhausted, h.RunTo(end));
        Assert.Equal(0x5A5AUL, cpu.Gpr[CpuCore.Rax] & 0xFFFF);
        Assert.Equal(0x1000UL, cpu.Segments[CpuCore.Cs].Selector);
    }

    [Fact]
    public void CompatibilityModeLoadsDescriptorsFromATableAboveFourGibibytes()
    {
        using var m = new SystemMachine();
        var cpu = m.Cpu;
        // The same GDT, seen at a base above 4 GiB through an identity window of the harness's translator.
        var descriptors = SystemMachine.Descriptors;
        cpu.Segments[CpuCore.Cs] = Segmentation.FromDescriptor(0x08, descriptors[1] & ~(1UL << 53) | (1UL << 54)); // 32-bit code
        cpu.UpdateBitness();
        Assert.Equal(32, cpu.Bitness);
        Assert.True(cpu.LongModeActive);
        ulong low = cpu.GdtBase;
        cpu.GdtBase = low | (1UL << 32);
        Assert.True(Segmentation.TryLocate(cpu, SystemMachine.KernelData, 8, out ulong address));
        Assert.Equal(cpu.GdtBase + SystemMachine.KernelData, address);
    }

    private static ulong Descriptor(uint @base, uint limit, uint flagsAndAccess) =>
        (limit & 0xFFFF) | ((ulong)(@base & 0xFFFFFF) << 16) | ((ulong)(flagsAndAccess & 0xFF) << 40)
        | ((ulong)((limit >> 16) & 0xF) << 48) | ((ulong)((flagsAndAccess >> 12) & 0xF) << 52) | ((ulong)(@base >> 24) << 56);
}
