using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;
using Sharpvisor.Vmm.Tests.Lifecycle;

namespace Sharpvisor.Vmm.Tests.Snapshots;

public sealed class BalloonSnapshotTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-balloon-snapshot-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [SkippableFact]
    public void A_balloon_target_set_before_a_snapshot_is_the_restored_vms_target()
    {
        string kernel = Path.Combine(_directory, "counter.elf");
        File.WriteAllBytes(kernel, Sharpvisor.TestGuests.TestGuestCatalog.Get("counter").BuildElf());
        var config = new VmConfig
        {
            KernelPath = kernel, CommandLine = "ticks=0 spin=100000", MemoryBytes = 64UL << 20, TestDevices = true,
            BalloonDevice = true,
        };
        var console = new ScriptedConsole();
        string snapshot = Path.Combine(_directory, "snapshot");
        using (var vm = new Vm(config, TestEngines.Create("emulator"), console))
        {
            var thread = new Thread(() => vm.Run());
            thread.Start();
            console.WaitFor("tick 3\n", 0, TimeSpan.FromSeconds(60));
            vm.SetBalloonTarget(48UL << 20); // the guest keeps 48 MiB: 16 MiB, 4,096 pages, in the balloon
            Assert.Equal(4096u, vm.Balloon!.TargetPages);
            var saved = vm.SaveSnapshot(snapshot, stopAfter: true);
            thread.Join();
            Assert.Contains(saved.Manifest.Devices, d => d.Kind == "virtio-balloon");
        }

        using var run = new CounterRun(TestEngines.Create("emulator"), restore: SnapshotStore.Load(snapshot));
        ulong last = CounterRun.Ticks(console.Output).Last();
        run.WaitForTick(last + 2);
        Assert.Equal(4096u, run.Vm.Balloon!.TargetPages);
        run.Vm.Stop("done");
        run.Finish(TimeSpan.FromSeconds(30));
        CounterRun.AssertConsecutive(console.Output + run.Console.Output);
    }
}
