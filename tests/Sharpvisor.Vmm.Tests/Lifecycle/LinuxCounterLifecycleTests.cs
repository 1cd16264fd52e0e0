using Sharpvisor.Engines.Emulator;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>
/// One boot of Debian's kernel on the emulator running <see cref="LinuxCounterWorkload"/>: paused and resumed, saved
/// while running (it goes on), saved with stop (virsh save, `snapshot create --stop`) and restored in a new machine on
/// the disk as the snapshot froze it. The counter on the console and on the disk runs 1, 2, 3 ... with no gap and no
/// repeat across all of it, the disk at the moment of the save holds exactly what the guest had synced, and the file
/// system is clean. The disks are qcow2 overlays from the first snapshot on, read here through qemu-img.
/// </summary>
public sealed class LinuxCounterLifecycleTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sharpvisor-linux-counter-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [SkippableFact]
    public async Task The_counter_goes_on_without_gap_or_repeat_across_pause_snapshots_and_restore()
    {
        QemuImg.Require();
        var timeout = LinuxCounterWorkload.CommandTimeout;
        var workload = new LinuxCounterWorkload(_root, output);
        workload.CreateDisk();
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        var config = workload.Config(image);
        string saved = Path.Combine(_root, "saved"), live = Path.Combine(_root, "live");

        var before = new ScriptedConsole();
        long lastBeforeSave;
        List<long> onDiskAtSave;
        using (var vm = new Vm(config, new EmulatorEngine(), before))
        {
            var run = Task.Run(vm.Run);
            try
            {
                int at = before.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, LinuxCounterWorkload.BootTimeout);
                before.WaitFor("# ", at, timeout);
                before.Type(LinuxCounterWorkload.StartCommand);
                LinuxCounterWorkload.WaitForCount(before, 5, timeout);

                // Pause: nothing more on the console while paused; then it goes on.
                vm.Pause();
                string atPause = before.Output;
                Thread.Sleep(1500);
                Assert.Equal(atPause, before.Output);
                long lastAtPause = LinuxCounterWorkload.Counts(atPause).Last();
                vm.Resume();
                LinuxCounterWorkload.WaitForCount(before, lastAtPause + 5, timeout);

                // A snapshot of the running VM, which goes on.
                var liveResult = vm.SaveSnapshot(live);
                Assert.Equal(VmState.Running, vm.State);
                output.WriteLine($"live snapshot: {liveResult.StoredPages} pages, stopped {liveResult.Total.TotalMilliseconds:0} ms");
                long lastAtLive = LinuxCounterWorkload.Counts(before.Output).Last();
                LinuxCounterWorkload.WaitForCount(before, lastAtLive + 5, timeout);

                // Save and stop.
                var result = vm.SaveSnapshot(saved, stopAfter: true);
                output.WriteLine($"saved: {result.StoredPages} pages, pause {result.Pausing.TotalMilliseconds:0} ms, write {result.Writing.TotalMilliseconds:0} ms");
                Assert.Equal(VmOutcome.Stopped, (await run.WaitAsync(timeout)).Outcome);
            }
            finally
            {
                vm.Stop("test finished");
                await run.WaitAsync(timeout);
                output.WriteLine("--- console before the save ---\n" + before.Output);
            }
            lastBeforeSave = LinuxCounterWorkload.Counts(before.Output).Last();
        }
        LinuxCounterWorkload.AssertConsecutive(LinuxCounterWorkload.Counts(before.Output), "console before the save");

        // The disk as the stopped VM left it: every tick printed was synced before it was printed, so the file holds
        // those values and at most the one tick under way.
        var snapshot = SnapshotStore.Load(saved);
        onDiskAtSave = workload.ReadCounterFromCopy(workload.Flatten(snapshot.Manifest.Config.Disks[0].Path, "frozen-at-save"), "at-save");
        LinuxCounterWorkload.AssertConsecutive(onDiskAtSave, "disk at the save");
        Assert.InRange(onDiskAtSave.Count, lastBeforeSave, lastBeforeSave + 1);
        output.WriteLine($"at the save: console at {lastBeforeSave}, disk at {onDiskAtSave.Count}");

        // Restore in a new machine; the counter goes on from the next value.
        string restoredDisk;
        var after = new ScriptedConsole();
        using (var vm = new Vm(snapshot.Manifest.Config, new EmulatorEngine(), after) { RestoreFrom = snapshot })
        {
            var run = Task.Run(vm.Run);
            try
            {
                LinuxCounterWorkload.WaitForCount(after, lastBeforeSave + 10, timeout);
                after.Type("\n"); // ends the loop
                int at = after.WaitFor("stopped at ", 0, timeout);
                at = after.WaitFor("# ", at, timeout);
                string stopped = after.Output;
                long lastCount = LinuxCounterWorkload.Counts(stopped).Last();
                Assert.Contains($"stopped at {lastCount}\r\n", stopped);
                string tail = after.Execute("tail -n 1 /mnt/counter; wc -l < /mnt/counter; umount /mnt && echo unmounted", 1, ref at, timeout);
                Assert.Equal([lastCount.ToString(), lastCount.ToString(), "unmounted"],
                    ScriptedConsole.Lines(tail).Where(l => l == "unmounted" || l.All(char.IsAsciiDigit)));
                after.Type("poweroff -f\n");
                Assert.Equal(VmOutcome.PoweredOff, (await run.WaitAsync(timeout)).Outcome);
            }
            finally
            {
                vm.Stop("test finished");
                await run.WaitAsync(timeout);
                output.WriteLine("--- console after the restore ---\n" + after.Output);
            }
            restoredDisk = vm.Config.Disks[0].Path;   // the fresh overlay the restore gave the disk
        }

        // The whole console stream (before the save, then after the restore) and the disk both count 1..N.
        var counts = LinuxCounterWorkload.Counts(before.Output + after.Output);
        LinuxCounterWorkload.AssertConsecutive(counts, "console across pause, snapshots and restore");
        Assert.True(counts.Count >= lastBeforeSave + 10, $"only {counts.Count} ticks");
        string final = workload.Flatten(restoredDisk, "final");
        workload.AssertClean(final);
        var onDisk = workload.ReadCounter(final, "final");
        LinuxCounterWorkload.AssertConsecutive(onDisk, "disk after the restore");
        Assert.Equal(counts.Count, onDisk.Count);
        output.WriteLine($"{counts.Count} ticks on the console and on the disk");
    }
}
