using System.Diagnostics;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

public sealed class PauseResumeTests
{
    [SkippableTheory]
    [InlineData("emulator")]
    [InlineData("kvm")]
    public void A_paused_guest_makes_no_progress_and_resumes_where_it_stopped(string engineName)
    {
        using var run = new CounterRun(TestEngines.Create(engineName), spin: TestEngines.Spin(engineName));
        run.WaitForTick(3);
        Assert.Equal(VmState.Running, run.Vm.State);
        run.Vm.Pause();
        Assert.Equal(VmState.Paused, run.Vm.State);
        string atPause = run.Console.Output;
        Thread.Sleep(500);
        Assert.Equal(atPause, run.Console.Output);
        Assert.Throws<InvalidVmTransitionException>(() => run.Vm.Pause());
        run.Vm.Resume();
        Assert.Equal(VmState.Running, run.Vm.State);
        ulong last = CounterRun.Ticks(atPause).Last();
        run.WaitForTick(last + 3);
        Assert.Throws<InvalidVmTransitionException>(() => run.Vm.Resume());
        run.Vm.Stop("done");
        run.Finish(TimeSpan.FromSeconds(30));
        Assert.Equal(VmState.Stopped, run.Vm.State);
        CounterRun.AssertConsecutive(run.Console.Output);
    }

    [SkippableTheory]
    [InlineData("emulator")]
    [InlineData("kvm")]
    public void The_guest_clock_does_not_jump_by_the_paused_time(string engineName)
    {
        using var memory = GuestMemory.CreateX86(16 << 20);
        using var vm = TestEngines.Create(engineName).CreateVirtualMachine(memory, new PortIoBus(), new MmioBus());
        var wall = Stopwatch.StartNew();
        ulong before = vm.ReadClock();
        Thread.Sleep(200);
        ulong running = vm.ReadClock();
        long ranMs = wall.ElapsedMilliseconds;
        Assert.InRange((long)(running - before) / 1_000_000, ranMs - 60, ranMs + 60); // the clock runs in step with the host

        vm.PauseClock();
        ulong paused = vm.ReadClock();
        Thread.Sleep(600);
        Assert.Equal(paused, vm.ReadClock());
        vm.ResumeClock();
        ulong resumed = vm.ReadClock();
        Assert.InRange((long)(resumed - paused), 0, 50_000_000); // under 50 ms, not the 600 ms paused

        vm.WriteClock(5_000_000_000);
        Assert.InRange(vm.ReadClock(), 5_000_000_000UL, 5_050_000_000UL);
    }

    [SkippableTheory]
    [InlineData("emulator")]
    [InlineData("kvm")]
    public void Resume_keeps_the_guest_clock_where_it_stopped_unless_asked_to_catch_up(string engineName)
    {
        using var run = new CounterRun(TestEngines.Create(engineName), spin: TestEngines.Spin(engineName));
        run.WaitForTick(2);

        run.Vm.Pause();
        ulong paused = run.Vm.GuestClockNanoseconds!.Value;
        Thread.Sleep(400);
        run.Vm.Resume();
        ulong resumed = run.Vm.GuestClockNanoseconds!.Value;
        Assert.InRange((long)(resumed - paused), 0, 50_000_000);

        run.Vm.Pause();
        paused = run.Vm.GuestClockNanoseconds!.Value;
        Thread.Sleep(400);
        run.Vm.Resume(catchUpClock: true);
        resumed = run.Vm.GuestClockNanoseconds!.Value;
        Assert.InRange((long)(resumed - paused), 400_000_000, 600_000_000);

        ulong last = CounterRun.Ticks(run.Console.Output).Last();
        run.WaitForTick(last + 2);
        run.Vm.Stop("done");
        run.Finish(TimeSpan.FromSeconds(30));
        CounterRun.AssertConsecutive(run.Console.Output);
    }
}
