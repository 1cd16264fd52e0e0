using System.Diagnostics;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Migration;

public sealed class LiveMigrationTests(ITestOutputHelper output)
{
    /// <summary>
    /// The counter guest migrates over 127.0.0.1 while it counts; the destination goes on with the next number, the
    /// source stops with "migrated to", and the whole count has no gap and no repeat.
    /// </summary>
    [SkippableTheory]
    [InlineData("emulator", "emulator")]
    [InlineData("kvm", "kvm")]
    [InlineData("emulator", "kvm")]
    [InlineData("kvm", "emulator")]
    public void A_migrated_counter_continues_on_the_destination_with_no_gap_and_no_repeat(string from, string to)
    {
        HostRequires.Engine(from);
        HostRequires.Engine(to);
        using var target = new MigrationTarget(TestEngines.Create(to));
        using var source = new CounterRun(TestEngines.Create(from), spin: TestEngines.Spin(from));
        source.WaitForTick(5);
        var progress = new List<MigrationProgress>();
        var clock = Stopwatch.StartNew();
        var summary = source.Vm.MigrateTo("127.0.0.1", target.Port, new MigrationOptions(),
            new InlineProgress<MigrationProgress>(p => { lock (progress) progress.Add(p); }));
        output.WriteLine($"{from} -> {to}: total {summary.Total.TotalMilliseconds:0.0} ms, downtime {summary.Downtime.TotalMilliseconds:0.0} ms, " +
                         $"{summary.Rounds} rounds, {summary.PagesSent} pages ({summary.ZeroPages} zero), {summary.BytesSent} bytes");
        foreach (var p in progress.Where(p => p.RoundPagesSent == p.RoundPages))
            output.WriteLine($"  {p.Elapsed.TotalMilliseconds,8:0.0} ms {p.Phase} round {p.Round}: {p.RoundPages} pages, {p.MiBSent:0.00} MiB, {p.BytesPerSecond / 1e6:0.0} MB/s, dirty {p.DirtyPagesPerSecond:0}/s");

        var result = source.Finish(TimeSpan.FromSeconds(30));
        Assert.Equal(VmOutcome.Migrated, result.Outcome);
        Assert.Equal($"migrated to 127.0.0.1:{target.Port}", result.Message);
        Assert.Equal(VmState.Stopped, source.Vm.State);
        string before = source.Console.Output;
        ulong last = CounterRun.Ticks(before).Last();

        target.WaitSettled(TimeSpan.FromSeconds(30));
        Assert.Null(target.Failure);
        target.WaitForTick(last + 5);
        output.WriteLine($"destination at tick {last + 5} after {clock.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(VmState.Running, target.Vm!.State);
        target.Vm.Stop("done");
        target.Join(TimeSpan.FromSeconds(30));
        CounterRun.AssertConsecutive(before + target.Console.Output);
        Assert.DoesNotContain("FAIL", target.Console.Output);
        Assert.True(summary.Rounds >= 2);
        Assert.Equal(summary.PagesSent, target.Received!.PagesReceived);
        Assert.Contains(progress, p => p.Phase == MigrationPhase.StopAndCopy);
    }

    /// <summary>
    /// The memory-writer guest dirties 1,000 pages a second while pre-copy runs (forced through several rounds with a
    /// zero downtime budget); on the destination it finishes its rounds and checks every page it wrote (its round and
    /// sequence number), so a page lost or sent stale in any round fails it.
    /// </summary>
    [SkippableTheory]
    [InlineData("kvm")]
    [InlineData("emulator")]
    public void A_guest_dirtying_pages_during_pre_copy_finds_all_its_writes_on_the_destination(string engine)
    {
        var config = new Sharpvisor.Vmm.Configuration.VmConfig
        {
            KernelPath = MigrationGuests.MemoryWriterPath, CommandLine = "pages_per_sec=1000 seconds=6 buffer_mib=32",
            MemoryBytes = 64UL << 20, TestDevices = true,
        };
        using var target = new MigrationTarget(TestEngines.Create(engine));
        var console = new ScriptedConsole();
        using var vm = new Vm(config, TestEngines.Create(engine), console);
        VmRunResult? sourceResult = null;
        var thread = new Thread(() => sourceResult = vm.Run()) { IsBackground = true };
        thread.Start();
        try
        {
            console.WaitFor("ROUND 1 ", 0, TimeSpan.FromSeconds(60));
            var rounds = new List<MigrationProgress>();
            var summary = vm.MigrateTo("127.0.0.1", target.Port, new MigrationOptions { MaxDowntime = TimeSpan.Zero, MaxRounds = 4 },
                new InlineProgress<MigrationProgress>(p => { if (p.RoundPagesSent == p.RoundPages && p.RoundPages > 0) rounds.Add(p); }));
            output.WriteLine($"{engine}: total {summary.Total.TotalMilliseconds:0.0} ms, downtime {summary.Downtime.TotalMilliseconds:0.0} ms, " +
                             $"{summary.Rounds} rounds, {summary.PagesSent} pages, {summary.BytesSent / 1048576.0:0.0} MiB");
            foreach (var p in rounds)
                output.WriteLine($"  {p.Elapsed.TotalMilliseconds,8:0.0} ms {p.Phase} round {p.Round}: {p.RoundPages} pages, dirty {p.DirtyPagesPerSecond:0}/s, {p.BytesPerSecond / 1e6:0} MB/s");
            // Up to 4 pre-copy rounds (fewer if a round finds nothing dirty: on a loaded host the guest may not have run
            // during a short round), then stop-and-copy; the guest's own check on the destination is what counts.
            Assert.InRange(summary.Rounds, 2, 5);
            Assert.Contains(rounds, p => p.Phase == MigrationPhase.PreCopy);
            thread.Join(TimeSpan.FromSeconds(30));
            Assert.Equal(VmOutcome.Migrated, sourceResult!.Outcome);

            target.Join(TimeSpan.FromSeconds(120));
            output.WriteLine(target.Console.Output);
            Assert.Null(target.Failure);
            Assert.Equal(VmOutcome.PoweredOff, target.Result!.Outcome);
            Assert.Contains("memory-writer: verified 6000 pages", target.Console.Output);
            Assert.Contains("ROUND 6 writes 6000", console.Output + target.Console.Output);
        }
        finally
        {
            output.WriteLine($"source console:\n{console.Output}");
            vm.Stop("test over");
            thread.Join(TimeSpan.FromSeconds(30));
        }
    }
}
