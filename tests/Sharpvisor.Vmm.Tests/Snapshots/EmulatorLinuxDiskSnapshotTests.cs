using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Snapshots;

/// <summary>
/// The default guest on the emulator with an ext4 disk: a file written and synced, a snapshot taken while it runs,
/// the file overwritten and synced, the VM stopped; the restore reads the file from the disk again (the guest's page
/// cache dropped) and finds the old content; every qcow2 file checks clean and e2fsck finds the file system clean.
/// </summary>
public sealed class EmulatorLinuxDiskSnapshotTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(2);
    private readonly string _vm = Directory.CreateTempSubdirectory("sharpvisor-linux-disk-snapshot-").FullName;

    public void Dispose() => Directory.Delete(_vm, recursive: true);

    [SkippableFact]
    public async Task A_file_overwritten_after_a_snapshot_reads_as_it_was_once_the_snapshot_is_restored()
    {
        QemuImg.Require();
        HostRequires.Tool("mkfs.ext4", "e2fsprogs");
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        string disk = Path.Combine(_vm, "data.raw"), saved = Path.Combine(_vm, "snapshot");
        QemuImg.Ok("mkfs.ext4", "-q", "-F", disk, "32M");
        var config = new VmConfig
        {
            KernelPath = image.KernelPath, InitrdPath = image.InitrdPath, CommandLine = DefaultGuestImage.SuggestedCommandLine,
            MemoryBytes = 256UL << 20, Topology = CpuTopology.Flat(1), NoReboot = true, Disks = [new DiskSpec(disk, Format: "raw")],
        };
        var console = new ScriptedConsole();
        string top;
        using (var vm = new Vm(config, new EmulatorEngine(), console))
        {
            var run = Task.Run(vm.Run);
            int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
            at = console.WaitFor("# ", at, CommandTimeout);
            console.Execute("mkdir -p /mnt && mount /dev/vda /mnt && echo written-before-the-snapshot > /mnt/note && sync", 1, ref at, CommandTimeout);
            vm.SaveSnapshot(saved);
            top = vm.Config.Disks[0].Path;
            string after = console.Execute("echo written-after-the-snapshot > /mnt/note && sync && echo 3 > /proc/sys/vm/drop_caches && cat /mnt/note", 2, ref at, CommandTimeout);
            Assert.Contains("written-after-the-snapshot", ScriptedConsole.Lines(after).Skip(1));
            vm.Stop("overwritten");
            await run.WaitAsync(CommandTimeout);
        }
        output.WriteLine($"the VM wrote on into {top}");
        Assert.NotEqual(disk, top);

        var snapshot = SnapshotStore.Load(saved);
        var restored = new ScriptedConsole();
        using (var vm = new Vm(snapshot.Manifest.Config, new EmulatorEngine(), restored) { RestoreFrom = snapshot })
        {
            using var started = new ManualResetEventSlim();
            vm.Started += _ => started.Set();
            var run = Task.Run(vm.Run);
            Assert.True(started.Wait(CommandTimeout), "the restored VM did not start");
            int at = 0;
            try
            {
                string note = restored.Execute("echo 3 > /proc/sys/vm/drop_caches && cat /mnt/note", 3, ref at, CommandTimeout);
                Assert.Contains("written-before-the-snapshot", ScriptedConsole.Lines(note));
                Assert.DoesNotContain("written-after-the-snapshot", note);
                restored.Execute("umount /mnt && sync", 4, ref at, CommandTimeout);
                restored.Type("poweroff -f\n");
                Assert.Equal(VmOutcome.PoweredOff, (await run.WaitAsync(CommandTimeout)).Outcome);
            }
            finally
            {
                output.WriteLine(restored.Output);
                vm.Stop("test finished");
                await run.WaitAsync(CommandTimeout);
            }
        }
        foreach (string layer in Directory.EnumerateFiles(Path.Combine(_vm, SnapshotDiskLayers.FolderName))) QemuImg.Check(layer);
        string flat = Path.Combine(_vm, "flat.raw");
        QemuImg.Ok("qemu-img", "convert", "-O", "raw", top, flat);
        QemuImg.Ok("e2fsck", "-f", "-n", flat);
    }
}
