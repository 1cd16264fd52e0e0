using Iced.Intel;
using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.Execution;

public class InterpreterTests
{
    [Fact]
    public void LoopsCallsAndTheStackComputeWhatTheyShould()
    {
        using var h = new EmulatorHarness();
        var function = default(Label);
        ulong end = h.Load(a =>
        {
            var loop = a.CreateLabel();
            var done = a.CreateLabel();
            function = a.CreateLabel();
            a.mov(ecx, 100);
            a.xor(eax, eax);
            a.Label(ref loop);
            a.add(rax, rcx);
            a.dec(rcx);
            a.jnz(loop);
            a.push(rax);
            a.call(function);
            a.pop(rdx);
            a.jmp(done);
            a.Label(ref function);
            a.mov(rbx, __qword_ptr[rsp + 8]);
            a.shl(rbx, 3);
            a.ret();
            a.Label(ref done);
            a.nop();
        });
        h.RunTo(end);
        Assert.Equal(5050UL, h.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(5050UL * 8, h.Cpu.Gpr[CpuCore.Rbx]);
        Assert.Equal(5050UL, h.Cpu.Gpr[CpuCore.Rdx]);
        Assert.Equal(EmulatorHarness.StackTop, h.Cpu.Gpr[CpuCore.Rsp]);
        Assert.Equal(2 + 3 * 100 + 7 + 1UL, (ulong)h.Cpu.InstructionsRetired); // set-up, loop, call sequence, final nop
    }

    [Fact]
    public void PartialRegisterWritesFollowTheX8664Rules()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a =>
        {
            a.mov(rax, 0x1122_3344_5566_7788);
            a.mov(rbx, rax);
            a.mov(rcx, rax);
            a.mov(rdx, rax);
            a.mov(eax, 0xAABBCCDD);          // 32-bit write clears the upper half
            a.mov(bx, 0xEEFF);               // 16-bit write merges
            a.mov(ch, 0x99);                 // high-byte write
            a.movsx(rdx, dl);                // 0x88 sign-extends
        });
        h.RunTo(end);
        Assert.Equal(0xAABBCCDDUL, h.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(0x1122_3344_5566_EEFFUL, h.Cpu.Gpr[CpuCore.Rbx]);
        Assert.Equal(0x1122_3344_5566_9988UL, h.Cpu.Gpr[CpuCore.Rcx]);
        Assert.Equal(0xFFFF_FFFF_FFFF_FF88UL, h.Cpu.Gpr[CpuCore.Rdx]);
    }

    [Fact]
    public void ACodeWriteInvalidatesTheDecodedBlock()
    {
        using var h = new EmulatorHarness();
        // Run a block once (mov eax, 1), patch its immediate to 2 through memory, run it again: the new value must show.
        ulong patched = 0;
        ulong end = h.Load(a =>
        {
            var body = a.CreateLabel();
            var after = a.CreateLabel();
            a.xor(ebx, ebx);
            a.Label(ref body);
            a.mov(eax, 1);                   // b8 01 00 00 00: the immediate is at body + 1
            a.add(ebx, eax);
            a.cmp(ebx, 1);
            a.jne(after);
            a.mov(__byte_ptr[rdi], 2);        // rdi = body + 1, set below
            a.jmp(body);
            a.Label(ref after);
            a.nop();
        });
        var decoder = Decoder.Create(64, h.Ram.GetSpan(EmulatorHarness.CodeAddress, 64).ToArray(), EmulatorHarness.CodeAddress);
        decoder.Decode(out var first);
        patched = first.NextIP + 1;
        h.Cpu.Gpr[CpuCore.Rdi] = patched;
        h.RunTo(end);
        Assert.Equal(3UL, h.Cpu.Gpr[CpuCore.Rbx]);   // 1 on the first pass, 2 on the second
        Assert.True(h.Interpreter.Blocks.Invalidations > 0);
    }

    [Fact]
    public void AMemoryFaultLeavesRipOnTheFaultingInstruction()
    {
        var window = new WindowTranslator();
        window.Map(EmulatorHarness.CodeAddress, 0x1000, EmulatorHarness.CodeAddress);
        window.Map(EmulatorHarness.StackTop - 0x1000, 0x1000, EmulatorHarness.StackTop - 0x1000);
        using var h = new EmulatorHarness(window);
        h.Load(a =>
        {
            a.mov(eax, 5);
            a.mov(rax, __qword_ptr[0xDEAD_0000]);
        });
        Assert.Equal(StopReason.Fault, h.Interpreter.Run(10));
        Assert.Equal(GuestFault.PageFault, h.Interpreter.LastFault!.Vector);
        Assert.Equal(0xDEAD_0000UL, h.Interpreter.LastFault.FaultAddress);
        Assert.Equal(EmulatorHarness.CodeAddress + 5, h.Cpu.Rip);
        Assert.Equal(5UL, h.Cpu.Gpr[CpuCore.Rax]);
    }

    [Fact]
    public void AnUnimplementedInstructionIsNamed()
    {
        using var h = new EmulatorHarness();
        h.Load(a =>
        {
            a.nop();
            a.vzeroupper(); // AVX is not advertised; HLT, this test's earlier example, is implemented now
        });
        var e = Assert.Throws<UnimplementedInstructionException>(() => h.Interpreter.Run(10));
        Assert.Contains("vzeroupper", e.Message);
        Assert.Equal(EmulatorHarness.CodeAddress + 1, h.Cpu.Rip);
        Assert.Equal([0xC5, 0xF8, 0x77], e.Bytes);
    }

    [Fact]
    public void UndefinedOpcodeRaisesInvalidOpcode()
    {
        using var h = new EmulatorHarness();
        h.Load(a => a.ud2());
        Assert.Equal(StopReason.Fault, h.Interpreter.Run(1));
        Assert.Equal(GuestFault.InvalidOpcode, h.Interpreter.LastFault!.Vector);
    }
}
