using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Snapshots;

public sealed class SnapshotRestoreTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-snapshot-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>
    /// Runs the counter guest on <paramref name="from"/>, saves it (stopping it), restores the snapshot on
    /// <paramref name="to"/> and checks the count goes on with the next number, memory pattern intact.
    /// </summary>
    [SkippableTheory]
    [InlineData("emulator", "emulator")]
    [InlineData("kvm", "kvm")]
    [InlineData("emulator", "kvm")]
    [InlineData("kvm", "emulator")]
    public void A_restored_counter_continues_with_no_gap_and_no_repeat(string from, string to)
    {
        HostRequires.Engine(from);
        HostRequires.Engine(to);
        string before;
        SnapshotResult saved;
        var phase = System.Diagnostics.Stopwatch.StartNew();
        using (var run = new CounterRun(TestEngines.Create(from), spin: TestEngines.Spin(from)))
        {
            run.WaitForTick(5);
            output.WriteLine($"{phase.Elapsed.TotalSeconds:0.00} s: tick 5 on {from}");
            saved = run.Vm.SaveSnapshot(_directory, stopAfter: true);
            var result = run.Finish(TimeSpan.FromSeconds(30));
            output.WriteLine($"{phase.Elapsed.TotalSeconds:0.00} s: saved and stopped");
            Assert.Equal(VmOutcome.Stopped, result.Outcome);
            Assert.Equal(VmState.Stopped, run.Vm.State);
            before = run.Console.Output;
        }
        output.WriteLine($"{from}: saved {saved.StoredPages} pages ({saved.StoredBytes} bytes) in {saved.Writing.TotalMilliseconds:0.0} ms, paused in {saved.Pausing.TotalMilliseconds:0.0} ms");
        ulong last = CounterRun.Ticks(before).Last();

        var loadClock = System.Diagnostics.Stopwatch.StartNew();
        var snapshot = SnapshotStore.Load(_directory);
        output.WriteLine($"loaded and verified in {loadClock.Elapsed.TotalMilliseconds:0.0} ms");
        using (var run = new CounterRun(TestEngines.Create(to), restore: snapshot))
        {
            run.WaitForTick(last + 5);
            output.WriteLine($"{phase.Elapsed.TotalSeconds:0.00} s: restored guest at tick {last + 5} on {to}");
            Assert.Equal(VmState.Running, run.Vm.State);
            run.Vm.Stop("done");
            run.Finish(TimeSpan.FromSeconds(30));
            output.WriteLine($"{phase.Elapsed.TotalSeconds:0.00} s: stopped");
            foreach (var note in run.Vm.RestoreNotes) output.WriteLine($"note: {note}");
            CounterRun.AssertConsecutive(before + run.Console.Output);
            Assert.DoesNotContain("FAIL", run.Console.Output);
        }
    }

    [SkippableFact]
    public void A_snapshot_folder_moved_elsewhere_resumes_there_without_the_kernel_file()
    {
        // The VM's own kernel file, deleted after the save: a restore needs only the snapshot folder.
        string kernel = Path.Combine(_directory, "own-counter.elf");
        File.WriteAllBytes(kernel, Sharpvisor.TestGuests.TestGuestCatalog.Get("counter").BuildElf());
        string saved = Path.Combine(_directory, "saved"), moved = Path.Combine(_directory, "moved", "vm");
        var config = new Sharpvisor.Vmm.Configuration.VmConfig
        {
            KernelPath = kernel, CommandLine = "ticks=0 spin=100000", MemoryBytes = 64UL << 20, TestDevices = true,
        };
        var console = new ScriptedConsole();
        using (var vm = new Vm(config, TestEngines.Create("emulator"), console))
        {
            var thread = new Thread(() => vm.Run());
            thread.Start();
            console.WaitFor("tick 8\n", 0, TimeSpan.FromSeconds(60));
            vm.SaveSnapshot(saved, stopAfter: true);
            thread.Join();
        }
        File.Delete(kernel);
        Directory.CreateDirectory(Path.GetDirectoryName(moved)!);
        Directory.Move(saved, moved);
        using var run = new CounterRun(TestEngines.Create("emulator"), restore: SnapshotStore.Load(moved));
        ulong last = CounterRun.Ticks(console.Output).Last();
        run.WaitForTick(last + 3);
        run.Vm.Stop("done");
        run.Finish(TimeSpan.FromSeconds(30));
        CounterRun.AssertConsecutive(console.Output + run.Console.Output);
    }

    [SkippableFact]
    public void A_snapshot_of_a_running_guest_lets_it_go_on_and_a_paused_one_stays_paused()
    {
        using var run = new CounterRun(TestEngines.Create("emulator"), spin: TestEngines.Spin("emulator"));
        run.WaitForTick(3);
        var first = run.Vm.SaveSnapshot(_directory);
        Assert.Equal(VmState.Running, run.Vm.State);
        ulong atFirst = CounterRun.Ticks(run.Console.Output).Last();
        run.WaitForTick(atFirst + 3);
        run.Vm.Pause();
        var second = run.Vm.SaveSnapshot(_directory);
        Assert.Equal(VmState.Paused, run.Vm.State);
        // The second snapshot replaced the first: one memory file, the newer one.
        Assert.Equal([second.Manifest.Memory.FileName], Directory.GetFiles(_directory, "memory-*.bin").Select(Path.GetFileName));
        Assert.NotEqual(first.Manifest.Memory.FileName, second.Manifest.Memory.FileName);
        run.Vm.Resume();
        run.WaitForTick(atFirst + 6);
        Assert.True(SnapshotStore.Load(_directory).Manifest.Vcpus.Length == 1);
    }

    [SkippableFact]
    public void A_restored_vm_can_be_saved_again_and_that_snapshot_restores_too()
    {
        // The second save must keep the pages the first restore mapped from the file but the guest never touched.
        string second = Path.Combine(_directory, "second");
        string console;
        using (var run = new CounterRun(TestEngines.Create("emulator"), spin: TestEngines.Spin("emulator")))
        {
            run.WaitForTick(70); // past 64: every buffer page holds a value
            run.Vm.SaveSnapshot(_directory, stopAfter: true);
            run.Finish(TimeSpan.FromSeconds(30));
            console = run.Console.Output;
        }
        using (var run = new CounterRun(TestEngines.Create("emulator"), restore: SnapshotStore.Load(_directory)))
        {
            ulong last = CounterRun.Ticks(console).Last();
            run.WaitForTick(last + 2);
            run.Vm.SaveSnapshot(second, stopAfter: true);
            run.Finish(TimeSpan.FromSeconds(30));
            console += run.Console.Output;
        }
        // The first snapshot's folder may go: the second one stands alone.
        foreach (var file in Directory.GetFiles(_directory)) File.Delete(file);
        using (var run = new CounterRun(TestEngines.Create("emulator"), restore: SnapshotStore.Load(second)))
        {
            ulong last = CounterRun.Ticks(console).Last();
            run.WaitForTick(last + 66); // a full round of the buffer, each page checked
            run.Vm.Stop("done");
            run.Finish(TimeSpan.FromSeconds(30));
            CounterRun.AssertConsecutive(console + run.Console.Output);
        }
    }
}
