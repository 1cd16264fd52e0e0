using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;
using Sharpvisor.Vmm.Tests.Lifecycle;

namespace Sharpvisor.Vmm.Tests.Snapshots;

public sealed class VmFolderPathsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-vmfolder-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [SkippableFact]
    public void Files_in_the_vm_folder_are_stored_relative_and_others_stay_absolute()
    {
        var config = new VmConfig
        {
            KernelPath = "/var/cache/kernel",
            InitrdPath = "/srv/vm/initrd.img",
            Disks = [new DiskSpec("/srv/vm/disk.img"), new DiskSpec("/srv/vm/snap/scratch.img", ReadOnly: true), new DiskSpec("/srv/other/shared.img")],
        };
        var stored = VmFolderPaths.ToStored(config, "/srv/vm/snap");
        Assert.Equal("/var/cache/kernel", stored.KernelPath);
        Assert.Equal("../initrd.img", stored.InitrdPath);
        Assert.Equal(["../disk.img", "scratch.img", "/srv/other/shared.img"], stored.Disks.Select(d => d.Path));
        Assert.True(stored.Disks[1].ReadOnly);

        var moved = VmFolderPaths.FromStored(stored, "/mnt/copy/vm/snap");
        Assert.Equal("/mnt/copy/vm/initrd.img", moved.InitrdPath);
        Assert.Equal(["/mnt/copy/vm/disk.img", "/mnt/copy/vm/snap/scratch.img", "/srv/other/shared.img"], moved.Disks.Select(d => d.Path));
        Assert.Equal(config, VmFolderPaths.FromStored(stored, "/srv/vm/snap") with { Disks = config.Disks });
    }

    [SkippableFact]
    public void A_vm_folder_with_its_kernel_disk_and_snapshot_moved_elsewhere_resumes_with_the_moved_disk()
    {
        string vm = Path.Combine(_directory, "vm"), movedVm = Path.Combine(_directory, "elsewhere", "vm");
        Directory.CreateDirectory(vm);
        string kernel = Path.Combine(vm, "counter.elf"), disk = Path.Combine(vm, "disk.img");
        File.WriteAllBytes(kernel, Sharpvisor.TestGuests.TestGuestCatalog.Get("counter").BuildElf());
        using (var file = File.Create(disk)) file.SetLength(1 << 20);
        var config = new VmConfig
        {
            KernelPath = kernel, CommandLine = "ticks=0 spin=100000", MemoryBytes = 64UL << 20, TestDevices = true,
            Disks = [new DiskSpec(disk)],
        };
        var console = new ScriptedConsole();
        using (var machine = new Vm(config, TestEngines.Create("emulator"), console))
        {
            var thread = new Thread(() => machine.Run());
            thread.Start();
            console.WaitFor("tick 4\n", 0, TimeSpan.FromSeconds(60));
            machine.SaveSnapshot(Path.Combine(vm, "snapshot"), stopAfter: true);
            thread.Join();
        }
        Directory.CreateDirectory(Path.GetDirectoryName(movedVm)!);
        Directory.Move(vm, movedVm);

        var snapshot = SnapshotStore.Load(Path.Combine(movedVm, "snapshot"));
        Assert.Equal(Path.Combine(movedVm, "disk.img"), Assert.Single(snapshot.Manifest.Config.Disks).Path);
        Assert.Equal(Path.Combine(movedVm, "counter.elf"), snapshot.Manifest.Config.KernelPath);
        using var run = new CounterRun(TestEngines.Create("emulator"), restore: snapshot);
        ulong last = CounterRun.Ticks(console.Output).Last();
        run.WaitForTick(last + 3);
        run.Vm.Stop("done");
        run.Finish(TimeSpan.FromSeconds(30));
        CounterRun.AssertConsecutive(console.Output + run.Console.Output);
    }
}
