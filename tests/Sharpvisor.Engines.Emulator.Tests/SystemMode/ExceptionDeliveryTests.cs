using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.SystemMode;

public class ExceptionDeliveryTests
{
    private const ulong Code = EmulatorHarness.CodeAddress;

    [Fact]
    public void GeneralProtectionFromABadSelectorPushesTheSixWordFrameWithTheSelectorAsErrorCode()
    {
        using var m = new SystemMachine();
        m.Cpu.Gpr[CpuCore.Rsp] = 0x7F008; // not 16-byte aligned: delivery aligns it first
        m.Cpu.Rflags = 0x202 | 0x1;
        ulong faulting = 0;
        m.H.Load(a =>
        {
            a.mov(eax, 0x48);                 // index 9: beyond the GDT limit 0x3F
            faulting = Code + 5;
            a.mov(ds, ax);
        });
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(GuestFault.GeneralProtection));
        Assert.Equal(0x7F000UL - 6 * 8, m.Cpu.Gpr[CpuCore.Rsp]);
        Assert.Equal(0x48UL, m.StackQword(0));              // error code: the selector
        Assert.Equal(faulting, m.StackQword(1));             // RIP of the faulting MOV
        Assert.Equal(SystemMachine.KernelCode, m.StackQword(2));
        Assert.Equal(0x203UL, m.StackQword(3) & 0xFFF);      // RFLAGS as they were
        Assert.Equal(0x7F008UL, m.StackQword(4));            // RSP as it was
        Assert.Equal(SystemMachine.KernelData, m.StackQword(5));
        Assert.False(m.Cpu.InterruptsEnabled);               // an interrupt gate clears IF
    }

    [Fact]
    public void InvalidOpcodeHandlerSkipsTheInstructionAndIretqReturnsToTheCode()
    {
        using var m = new SystemMachine();
        m.Cpu.Gpr[CpuCore.Rsp] = 0x7F000;
        ulong handler = 0x30000;
        m.SetGate(GuestFault.InvalidOpcode, handler);
        m.H.Load(a =>
        {
            a.add(__qword_ptr[rsp], 2);   // past the UD2
            a.inc(r15);
            a.iretq();
        }, handler);
        ulong end = m.H.Load(a =>
        {
            a.mov(ecx, 7);
            a.ud2();
            a.mov(edx, 9);
        });
        m.H.RunTo(end);
        Assert.Equal(1UL, m.Cpu.Gpr[15]);
        Assert.Equal(9UL, m.Cpu.Gpr[CpuCore.Rdx]);
        Assert.Equal(0x7F000UL, m.Cpu.Gpr[CpuCore.Rsp]);
        Assert.Equal(SystemMachine.KernelCode, m.Cpu.Segments[CpuCore.Cs].Selector);
    }

    [Fact]
    public void PageFaultSetsCr2AndPushesTheTranslatorsErrorCode()
    {
        var windows = new WindowTranslator();
        windows.Map(0, 0x100000, 0);
        using var m = new SystemMachine(windows);
        m.Cpu.Gpr[CpuCore.Rsp] = 0x7F000;
        ulong faulting = m.H.Load(a => a.mov(rbx, 0x345678));
        m.H.Load(a => a.mov(__qword_ptr[rbx], rax), faulting);
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(GuestFault.PageFault));
        Assert.Equal(0x345678UL, m.Cpu.Cr2);
        Assert.Equal(0x6UL, m.StackQword(0));   // write, user (the window translator's code)
        Assert.Equal(faulting, m.StackQword(1));
    }

    [Fact]
    public void IntFromUserModeNeedsAGateDplOfThreeAndSwitchesToRsp0()
    {
        using var m = new SystemMachine();
        ulong end = m.H.Load(a => { a.@int(0x80); a.nop(); });
        m.EnterUserMode(Code);
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(GuestFault.GeneralProtection));
        Assert.Equal(0x80UL * 8 + 2, m.StackQword(0));     // IDT bit, not external
        Assert.Equal(Code, m.StackQword(1));                 // the INT itself
        Assert.Equal(SystemMachine.Rsp0 - 6 * 8, m.Cpu.Gpr[CpuCore.Rsp]);
        Assert.Equal(0, m.Cpu.Cpl);

        m.SetGate(0x80, SystemMachine.HandlerAddress(0x80), dpl: 3);
        m.EnterUserMode(Code);
        m.Cpu.Halted = false;
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(0x80));
        Assert.Equal(SystemMachine.Rsp0 - 5 * 8, m.Cpu.Gpr[CpuCore.Rsp]);
        Assert.Equal(Code + 2, m.StackQword(0));             // after the INT
        Assert.Equal(SystemMachine.UserCode64, m.StackQword(1));
        Assert.Equal(SystemMachine.UserStack, m.StackQword(3));
        Assert.Equal(SystemMachine.UserData, m.StackQword(4));
        Assert.Equal(0, m.Cpu.Segments[CpuCore.Ss].Selector); // SS becomes null (RPL = new CPL 0)
        Assert.Equal(0, m.Cpu.Cpl);

        // IRETQ back to user mode: CPL 3, user CS and SS, the user stack.
        m.Resume();
        m.H.RunTo(end);
        Assert.Equal(3, m.Cpu.Cpl);
        Assert.Equal(SystemMachine.UserCode64, m.Cpu.Segments[CpuCore.Cs].Selector);
        Assert.Equal(SystemMachine.UserData, m.Cpu.Segments[CpuCore.Ss].Selector);
        Assert.Equal(SystemMachine.UserStack, m.Cpu.Gpr[CpuCore.Rsp]);
    }

    [Fact]
    public void AnIstGateUsesItsStackEvenWithoutAPrivilegeChange()
    {
        using var m = new SystemMachine();
        m.Cpu.Gpr[CpuCore.Rsp] = 0x7F000;
        m.SetGate(GuestFault.InvalidOpcode, SystemMachine.HandlerAddress(GuestFault.InvalidOpcode), ist: 1);
        m.H.Load(a => a.ud2());
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(GuestFault.InvalidOpcode));
        Assert.Equal((SystemMachine.Ist1 & ~0xFUL) - 5 * 8, m.Cpu.Gpr[CpuCore.Rsp]); // IST1 0x68008 aligned down to 0x68000
        Assert.Equal(0x7F000UL, m.StackQword(3));
    }

    [Fact]
    public void AFaultWhileDeliveringAContributoryFaultIsADoubleFault()
    {
        using var m = new SystemMachine();
        m.Cpu.Gpr[CpuCore.Rsp] = 0x7F000;
        m.SetGate(GuestFault.GeneralProtection, SystemMachine.HandlerAddress(GuestFault.GeneralProtection), present: false);
        m.H.Load(a => { a.mov(eax, 0x48); a.mov(ds, ax); });
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(GuestFault.DoubleFault));
        Assert.Equal(0UL, m.StackQword(0));
        Assert.Equal(Code + 5, m.StackQword(1));
    }

    [Fact]
    public void APageFaultPushingTheFrameOfAPageFaultIsADoubleFault()
    {
        var windows = new WindowTranslator();
        windows.Map(0, 0x100000, 0);
        using var m = new SystemMachine(windows);
        m.Cpu.Gpr[CpuCore.Rsp] = 0x300000;   // unmapped stack: the #PF frame cannot be written
        m.SetGate(GuestFault.DoubleFault, SystemMachine.HandlerAddress(GuestFault.DoubleFault), ist: 1);
        m.H.Load(a => { a.mov(rbx, 0x345678); a.mov(rax, __qword_ptr[rbx]); });
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(GuestFault.DoubleFault));
        Assert.Equal(0x300000UL - 8, m.Cpu.Cr2);  // the last #PF raised: the frame write
        Assert.Equal((SystemMachine.Ist1 & ~0xFUL) - 6 * 8, m.Cpu.Gpr[CpuCore.Rsp]);
    }

    [Fact]
    public void AFaultWhileDeliveringADoubleFaultStopsWithATripleFault()
    {
        using var m = new SystemMachine();
        m.Cpu.IdtLimit = 0x0F; // only vector 0 fits: #UD -> #GP (IDT limit) -> #GP again -> #DF -> #GP: shutdown
        m.H.Load(a => a.ud2());
        Assert.Equal(StopReason.TripleFault, m.Run());
        string description = m.H.Interpreter.TripleFaultDescription!;
        Assert.Contains("#DF", description);
        Assert.Contains("#UD", description);
        Assert.Equal(Code, m.Cpu.Rip);
    }

    [Fact]
    public void WithoutSystemModeFaultsStillStopTheRun()
    {
        using var m = new SystemMachine();
        m.Cpu.DeliverExceptions = false;
        m.H.Load(a => { a.nop(); a.@int(0x21); });
        Assert.Equal(StopReason.Fault, m.Run());
        Assert.Equal(0x21, m.H.Interpreter.LastFault!.Vector);
        Assert.Equal(Code + 3, m.Cpu.Rip);
    }
}
