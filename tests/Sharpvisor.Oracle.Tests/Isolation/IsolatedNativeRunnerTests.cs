using Sharpvisor.Oracle.Isolation;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Oracle.Tests.Isolation;

public sealed class IsolatedNativeRunnerTests
{
    private static InstructionCase DivideByZero()
    {
        var c = InstructionCase.Create(Assemble.One(a => a.div(rcx)));
        c.Gprs[GprIndex.Rax] = 100;
        c.Gprs[GprIndex.Rcx] = 0;
        return c;
    }

    private static InstructionCase Ud2() => InstructionCase.Create(Assemble.One(a => a.ud2()));

    private static InstructionCase LoadThrough(ulong pointer)
    {
        var c = InstructionCase.Create(Assemble.One(a => a.mov(rax, __qword_ptr[rbx])));
        c.Gprs[GprIndex.Rbx] = pointer;
        return c;
    }

    private static InstructionCase Increment(ulong value)
    {
        var c = InstructionCase.Create(Assemble.One(a => a.inc(rdx)));
        c.Gprs[GprIndex.Rdx] = value;
        return c;
    }

    [Fact]
    public void Faults_come_back_with_their_exact_vector_and_the_worker_survives()
    {
        using var runner = new IsolatedNativeRunner();
        InstructionOutcome[] outcomes = runner.RunBatch(
        [
            Increment(1),
            DivideByZero(),
            Ud2(),
            LoadThrough(0x10),                     // unmapped: #PF, address reported
            LoadThrough(0x8000_0000_0000_0000),    // non-canonical: #GP
            Increment(41),
        ]);
        Assert.True(runner.WorkerRecoversFaults);
        Assert.Equal(1, runner.WorkerStarts);

        Assert.Equal(FaultKind.None, outcomes[0].Fault.Kind);
        Assert.Equal(2UL, outcomes[0].Gprs[GprIndex.Rdx]);

        Assert.Equal(FaultKind.DivideError, outcomes[1].Fault.Kind);
        Assert.Equal(0, outcomes[1].Fault.Vector);
        Assert.Equal(InstructionFault.Sigfpe, outcomes[1].Fault.Signal);
        Assert.Equal(100UL, outcomes[1].Gprs[GprIndex.Rax]); // a fault leaves the registers as they were

        Assert.Equal(FaultKind.InvalidOpcode, outcomes[2].Fault.Kind);
        Assert.Equal(6, outcomes[2].Fault.Vector);
        Assert.Equal(InstructionFault.Sigill, outcomes[2].Fault.Signal);

        Assert.Equal(FaultKind.PageFault, outcomes[3].Fault.Kind);
        Assert.Equal(14, outcomes[3].Fault.Vector);
        Assert.Equal(0x10UL, outcomes[3].Fault.Address);
        Assert.Equal(4UL, outcomes[3].Fault.ErrorCode & 4); // user-mode access

        Assert.Equal(FaultKind.GeneralProtection, outcomes[4].Fault.Kind);
        Assert.Equal(13, outcomes[4].Fault.Vector);

        Assert.Equal(FaultKind.None, outcomes[5].Fault.Kind);
        Assert.Equal(42UL, outcomes[5].Gprs[GprIndex.Rdx]);
    }

    [Fact]
    public void A_page_fault_inside_the_window_guard_reports_a_canonical_address()
    {
        using var runner = new IsolatedNativeRunner();
        var c = InstructionCase.Create(Assemble.One(a => a.mov(__qword_ptr[rsi], rax))) with { PointerRegisters = (1 << GprIndex.Rsp) | (1 << GprIndex.Rsi) };
        c.Gprs[GprIndex.Rsi] = InstructionCase.CanonicalWindowBase + InstructionCase.WindowSize - 4; // straddles the upper guard page
        InstructionOutcome outcome = runner.Run(c);
        Assert.Equal(FaultKind.PageFault, outcome.Fault.Kind);
        Assert.Equal(2UL, outcome.Fault.ErrorCode & 2); // a write
        Assert.Equal(InstructionCase.CanonicalWindowBase + InstructionCase.WindowSize - 4, outcome.Gprs[GprIndex.Rsi]);
    }

    [Fact]
    public void Without_recovery_a_dying_worker_is_reported_from_its_signal_and_replaced()
    {
        using var runner = new IsolatedNativeRunner(recoverFaultsInWorker: false);
        InstructionOutcome[] outcomes = runner.RunBatch(
        [
            Increment(10),
            DivideByZero(),
            Increment(20),
            Ud2(),
            LoadThrough(0x10),
            Increment(30),
        ]);
        Assert.False(runner.WorkerRecoversFaults);
        Assert.Equal(4, runner.WorkerStarts); // the first worker and one after each fault

        Assert.Equal(11UL, outcomes[0].Gprs[GprIndex.Rdx]);
        Assert.Equal(FaultKind.DivideError, outcomes[1].Fault.Kind);
        Assert.Equal(InstructionFault.Sigfpe, outcomes[1].Fault.Signal);
        Assert.Equal(100UL, outcomes[1].Gprs[GprIndex.Rax]);
        Assert.Equal(21UL, outcomes[2].Gprs[GprIndex.Rdx]);
        Assert.Equal(FaultKind.None, outcomes[2].Fault.Kind);
        Assert.Equal(FaultKind.InvalidOpcode, outcomes[3].Fault.Kind);
        Assert.Equal(FaultKind.MemoryAccessViolation, outcomes[4].Fault.Kind);
        Assert.Equal(InstructionFault.Sigsegv, outcomes[4].Fault.Signal);
        Assert.Equal(31UL, outcomes[5].Gprs[GprIndex.Rdx]);
    }

    [Fact]
    public void The_worker_agrees_with_the_in_process_runner()
    {
        var c = InstructionCase.Create(Assemble.One(a => a.imul(r10, __qword_ptr[rbx + 8]))) with { PointerRegisters = (1 << GprIndex.Rsp) | (1 << GprIndex.Rbx), Rflags = 0x8D5 };
        c.Gprs[GprIndex.Rbx] = InstructionCase.CanonicalWindowBase + 0x100;
        c.Gprs[GprIndex.R10] = 0x1234_5678_9ABC_DEF0;
        new Random(5).NextBytes(c.Memory);
        using var isolated = new IsolatedNativeRunner();
        using var local = new Sharpvisor.Oracle.Native.NativeInstructionRunner(placeWindowAtCanonicalAddress: false);
        Assert.Equal("", isolated.Run(c).DescribeDifferences(local.Run(c)));
    }
}
