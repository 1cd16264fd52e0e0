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
    [Theory]
    [InlineData("emulator", "emulator")]
    [InlineData("kvm", "kvm")]
    public void A_migrated_counter_continues_on_the_destination_with_no_gap_and_no_repeat(string from, string to)
    {
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
}
