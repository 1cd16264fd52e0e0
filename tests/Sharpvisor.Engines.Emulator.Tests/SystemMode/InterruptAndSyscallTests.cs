using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.SystemMode;

public class InterruptAndSyscallTests
{
    private const ulong Code = EmulatorHarness.CodeAddress;

    /// <summary>An interrupt controller with one pending vector (or none), counting acknowledgements.</summary>
    private sealed class TestInterruptSource : IInterruptSource
    {
        public byte? Pending;
        public int Acknowledged;
        public bool HasDeliverable => Pending.HasValue;
        public byte TaskPriority { get; set; }

        public bool TryAcknowledge(out byte vector)
        {
            vector = Pending ?? 0;
            if (Pending is null) return false;
            Pending = null;
            Acknowledged++;
            return true;
        }
    }

    [Fact]
    public void AnExternalInterruptWaitsForIfAndThenForTheInstructionAfterSti()
    {
        using var m = new SystemMachine();
        var apic = new TestInterruptSource { Pending = 0x30 };
        m.Cpu.Interrupts = apic;
        m.Cpu.Gpr[CpuCore.Rsp] = 0x7F000;
        ulong sti = m.H.Load(a => { a.nop(); a.nop(); });
        ulong shadowed = m.H.Load(a => a.sti(), sti);
        ulong after = m.H.Load(a => a.nop(), shadowed);
        m.H.Load(a => { a.nop(); a.nop(); }, after);
        m.Cpu.InterruptCheckRequested = true;
        m.H.Interpreter.Run(2);                       // IF = 0: the two NOPs run, nothing is taken
        Assert.Equal(0, apic.Acknowledged);
        Assert.Equal(sti, m.Cpu.Rip);
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(0x30));
        Assert.Equal(after, m.StackQword(0));       // taken after the NOP that STI's shadow covers
        Assert.Equal(1, apic.Acknowledged);
        Assert.Equal(0x202UL, m.StackQword(2) & 0x202);
    }

    [Fact]
    public void HltStopsWithRipAfterItAndTheNextRunDeliversTheInterrupt()
    {
        using var m = new SystemMachine();
        var apic = new TestInterruptSource();
        m.Cpu.Interrupts = apic;
        m.Cpu.Gpr[CpuCore.Rsp] = 0x7F000;
        ulong halt = m.H.Load(a => a.sti());
        ulong afterHalt = m.H.Load(a => a.hlt(), halt);
        m.H.Load(a => a.nop(), afterHalt);
        Assert.Equal(StopReason.Halted, m.H.Interpreter.Run(100));
        Assert.Equal(afterHalt, m.Cpu.Rip);
        Assert.Equal(StopReason.Halted, m.H.Interpreter.Run(100)); // nothing pending: still halted, nothing run
        Assert.Equal(afterHalt, m.Cpu.Rip);

        apic.Pending = 0x40;
        m.Cpu.InterruptCheckRequested = true;
        Assert.Equal(StopReason.Halted, m.H.Interpreter.Run(100));
        Assert.True(m.HaltedIn(0x40));
        Assert.Equal(afterHalt, m.StackQword(0));
    }

    [Fact]
    public void HltAndCliAtUserLevelRaiseGeneralProtection()
    {
        using var m = new SystemMachine();
        m.H.Load(a => a.cli());
        m.EnterUserMode(Code);
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(GuestFault.GeneralProtection));
        Assert.Equal(Code, m.StackQword(1));
    }

    [Fact]
    public void SyscallAndSysretRoundTripThroughStarLstarAndSfmask()
    {
        using var m = new SystemMachine();
        const ulong entry = 0x30000;
        m.Cpu.Star = (0x18UL << 48) | (0x08UL << 32);
        m.Cpu.Lstar = entry;
        m.Cpu.SyscallFlagMask = 0x4700; // TF DF IF NT, as Linux
        m.H.Load(a =>
        {
            a.mov(r8, rcx);
            a.mov(r9, r11);
            a.mov(r10d, __dword_ptr[0x5000]); // kernel work
            a.mov(eax, 42);
            a.sysretq();
        }, entry);
        m.H.Ram.WriteUInt32(0x5000, 0x1234);
        ulong afterSyscall = m.H.Load(a => a.syscall());
        ulong end = m.H.Load(a => a.nop(), afterSyscall);
        m.EnterUserMode(Code);
        m.Cpu.Rflags = 0x602 | 0x1; // IF, DF, CF
        m.H.RunTo(entry);
        Assert.Equal(0, m.Cpu.Cpl);
        Assert.Equal(0x08, m.Cpu.Segments[CpuCore.Cs].Selector);
        Assert.Equal(0x10, m.Cpu.Segments[CpuCore.Ss].Selector);
        Assert.Equal(0UL, m.Cpu.Rflags & 0x4700);
        m.H.RunTo(end);
        Assert.Equal(afterSyscall, m.Cpu.Gpr[8]);
        Assert.Equal(0x603UL, m.Cpu.Gpr[9] & 0xFFF);
        Assert.Equal(0x1234UL, m.Cpu.Gpr[10]);
        Assert.Equal(42UL, m.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(3, m.Cpu.Cpl);
        Assert.Equal(SystemMachine.UserCode64, m.Cpu.Segments[CpuCore.Cs].Selector);
        Assert.Equal(SystemMachine.UserData, m.Cpu.Segments[CpuCore.Ss].Selector);
        Assert.Equal(0x603UL, m.Cpu.Rflags & 0xFFF);
        Assert.Equal(64, m.Cpu.Bitness);
    }

    [Fact]
    public void SyscallWithoutSceIsInvalidAndSysretAtUserLevelIsProtected()
    {
        using var m = new SystemMachine();
        m.Cpu.Efer &= ~CpuCore.EferSyscallEnable;
        m.H.Load(a => a.syscall());
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(GuestFault.InvalidOpcode));

        using var n = new SystemMachine();
        n.H.Load(a => a.sysretq());
        n.EnterUserMode(Code);
        Assert.Equal(StopReason.Halted, n.Run());
        Assert.True(n.HaltedIn(GuestFault.GeneralProtection));
    }

    [Fact]
    public void SwapgsExchangesGsBaseWithKernelGsBase()
    {
        using var m = new SystemMachine();
        m.Cpu.GsBase = 0x1111;
        m.Cpu.KernelGsBase = 0x6000;
        m.H.Ram.WriteUInt64(0x6010, 0xABCD);
        ulong end = m.H.Load(a => { a.swapgs(); a.mov(rax, __qword_ptr.gs[0x10]); });
        m.H.RunTo(end);
        Assert.Equal(0xABCDUL, m.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(0x6000UL, m.Cpu.GsBase);
        Assert.Equal(0x1111UL, m.Cpu.KernelGsBase);
    }

    [Fact]
    public void PopfChangesIfAndIoplOnlyWithPrivilege()
    {
        using var m = new SystemMachine();
        m.Cpu.Gpr[CpuCore.Rsp] = 0x7F000;
        ulong end = m.H.Load(a => { a.push(0x3202); a.popfq(); });
        m.H.RunTo(end);
        Assert.Equal(0x3202UL, m.Cpu.Rflags & 0x3202);

        using var user = new SystemMachine();
        end = user.H.Load(a => { a.push(0x3202); a.popfq(); });
        user.EnterUserMode(Code);
        user.H.RunTo(end);
        Assert.Equal(0UL, user.Cpu.Rflags & 0x3200); // silently kept at CPL 3, IOPL 0
    }

    [Fact]
    public void LretqReloadsCsFromTheGdtAsLinuxDoesAfterLgdt()
    {
        using var m = new SystemMachine();
        m.Cpu.Gpr[CpuCore.Rsp] = 0x7F000;
        m.Cpu.Segments[CpuCore.Cs].Selector = 0x10; // stale
        ulong target = 0x12000;
        ulong end = m.H.Load(a => a.nop(), target);
        m.H.Load(a =>
        {
            a.push(SystemMachine.KernelCode);
            a.mov(rax, target);
            a.push(rax);
            a.db(0x48, 0xCB); // retfq
        });
        m.H.RunTo(end);
        Assert.Equal(SystemMachine.KernelCode, m.Cpu.Segments[CpuCore.Cs].Selector);
        Assert.True(m.Cpu.Segments[CpuCore.Cs].Long);
        Assert.Equal(0x7F000UL, m.Cpu.Gpr[CpuCore.Rsp]);
    }

    [Fact]
    public void SegmentLoadsCheckTypeAndPrivilege()
    {
        using var m = new SystemMachine();
        m.Cpu.Gpr[CpuCore.Rsp] = 0x7F000;
        ulong end = m.H.Load(a => { a.mov(eax, SystemMachine.UserData); a.mov(ds, ax); a.mov(es, ax); a.xor(eax, eax); a.mov(fs, ax); });
        m.H.RunTo(end);
        Assert.Equal(SystemMachine.UserData, m.Cpu.Segments[CpuCore.Ds].Selector);
        Assert.True(m.Cpu.Segments[CpuCore.Ds].Present);
        Assert.Equal(0xFFFF_FFFFu, m.Cpu.Segments[CpuCore.Ds].Limit);
        Assert.NotEqual(0u, m.Cpu.Segments[CpuCore.Fs].Attributes & SegmentCache.UnusableBit);

        using var user = new SystemMachine();
        user.H.Load(a => { a.mov(eax, SystemMachine.KernelData | 3); a.mov(ds, ax); }); // DPL 0 data from CPL 3
        user.EnterUserMode(Code);
        Assert.Equal(StopReason.Halted, user.Run());
        Assert.True(user.HaltedIn(GuestFault.GeneralProtection));
        Assert.Equal((ulong)SystemMachine.KernelData, user.StackQword(0));

        using var stack = new SystemMachine();
        stack.H.Load(a => { a.xor(eax, eax); a.mov(ss, ax); }); // null SS at CPL 3
        stack.EnterUserMode(Code);
        Assert.Equal(StopReason.Halted, stack.Run());
        Assert.True(stack.HaltedIn(GuestFault.GeneralProtection));
        Assert.Equal(0UL, stack.StackQword(0));
    }
}
