using static Sharpvisor.Vmm.Tests.Lifecycle.ScriptedConsole;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>
/// Debian's kernel on the emulator with two virtio-blk disks (an ext4 image made on the host, read-write, and a raw
/// read-only one) and virtio-rng: the guest's own virtio_pci finds them on PCI with MSI-X, mounts the ext4 disk,
/// reads what the host put there, writes a file, discards free blocks, syncs and powers off; then the host finds the
/// guest's file in the image with debugfs and e2fsck finds the file system clean.
/// </summary>
public sealed class VirtioDiskBootTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(2);
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-virtio-boot-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Linux_finds_virtio_disks_on_PCI_reads_writes_and_the_host_sees_the_data()
    {
        // Host side: an ext4 image with a file, and a raw image with a known pattern.
        string tree = Path.Combine(_directory, "tree");
        Directory.CreateDirectory(tree);
        string hostText = $"written by the host {Guid.NewGuid():N}";
        File.WriteAllText(Path.Combine(tree, "hello.txt"), hostText + "\n");
        string ext4 = Path.Combine(_directory, "root.ext4");
        Run("mkfs.ext4", $"-q -F -d {tree} {ext4} 32M");
        string raw = Path.Combine(_directory, "raw.img");
        var pattern = new byte[1 << 20];
        new Random(7).NextBytes(pattern);
        File.WriteAllBytes(raw, pattern);
        string rawHash = Hex(SHA256.HashData(pattern.AsSpan(0, 4096)));

        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        var config = new VmConfig
        {
            KernelPath = image.KernelPath,
            InitrdPath = image.InitrdPath,
            CommandLine = DefaultGuestImage.SuggestedCommandLine,
            MemoryBytes = 256UL << 20,
            Topology = CpuTopology.Flat(1),
            NoReboot = true,
            Disks = [new DiskSpec(ext4), new DiskSpec(raw, ReadOnly: true)],
        };
        var console = new ScriptedConsole();
        using var vm = new Vm(config, new EmulatorEngine(), console);
        var run = Task.Run(vm.Run);
        var expected = new StringBuilder();
        for (int i = 1; i <= 2000; i++) expected.Append($"guest line {i}\n");
        string guestHash = Hex(SHA256.HashData(Encoding.ASCII.GetBytes(expected.ToString())));
        try
        {
            int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
            at = console.WaitFor("# ", at, CommandTimeout);

            // lspci from /sys: the virtio functions, modern device IDs, BARs in the host bridge window.
            var pci = Lines(console.Execute("for d in /sys/bus/pci/devices/*; do echo pci $(cat $d/vendor) $(cat $d/device) $(head -c 18 $d/resource); done", 1, ref at, CommandTimeout));
            Assert.Contains(pci, l => l.StartsWith("pci 0x1af4 0x1042 0x00000000c"));
            Assert.Contains(pci, l => l.StartsWith("pci 0x1af4 0x1044 0x00000000c"));
            Assert.Equal(2, pci.Count(l => l.StartsWith("pci 0x1af4 0x1042")));

            var interrupts = Lines(console.Execute("grep virtio /proc/interrupts", 2, ref at, CommandTimeout));
            Assert.Contains(interrupts, l => l.Contains("PCI-MSI") && l.Contains("-req.0"));

            var disks = Lines(console.Execute("echo $(cat /sys/block/vda/serial) $(cat /sys/block/vda/size) $(cat /sys/block/vdb/ro) $(cat /sys/block/vdb/size)", 3, ref at, CommandTimeout));
            Assert.Contains($"sharpvisor-vda {32 << 11} 1 {1 << 11}", disks);

            var mounted = Lines(console.Execute("mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && cat /mnt/hello.txt", 4, ref at, CommandTimeout));
            Assert.Contains(hostText, mounted);

            var written = Lines(console.Execute("printf 'guest line %s\\n' $(seq 1 2000) > /mnt/guest.txt && sha256sum /mnt/guest.txt && fstrim -v /mnt; sync; umount /mnt && echo unmounted", 5, ref at, CommandTimeout));
            Assert.Contains($"{guestHash}  /mnt/guest.txt", written);
            Assert.Contains("unmounted", written);

            var readOnly = Lines(console.Execute("head -c 4096 /dev/vdb | sha256sum; echo x | dd of=/dev/vdb 2>&1 | head -1", 6, ref at, CommandTimeout));
            Assert.Contains($"{rawHash}  -", readOnly);
            Assert.Contains(readOnly, l => l.Contains("Operation not permitted") || l.Contains("Read-only"));

            console.Type("poweroff -f\n");
            var result = await run.WaitAsync(CommandTimeout);
            output.WriteLine($"outcome: {result.Outcome} ({result.Message}) after {result.Elapsed.TotalSeconds:0.0} s");
            Assert.Equal(VmOutcome.PoweredOff, result.Outcome);
        }
        finally
        {
            output.WriteLine(console.Output);
            vm.Stop("test finished");
            await run.WaitAsync(CommandTimeout);
        }

        // Host side again: the guest's file is in the image, the file system is clean, the read-only disk untouched.
        string dumped = Path.Combine(_directory, "guest.txt");
        Run("debugfs", $"-R \"dump /guest.txt {dumped}\" {ext4}");
        Assert.Equal(guestHash, Hex(SHA256.HashData(File.ReadAllBytes(dumped))));
        Run("e2fsck", $"-fn {ext4}");
        Assert.Equal(pattern, File.ReadAllBytes(raw));
    }

    [Fact]
    public async Task Linux_runs_from_an_ext4_root_file_system_on_vda_built_by_image_rootfs()
    {
        // A fresh image in a private cache, so its /init is the one this source builds (the shared cache may hold an older one).
        string cache = Path.Combine(_directory, "cache");
        var image = await DefaultGuestImage.EnsureAsync(cache, new Progress<string>(output.WriteLine), CancellationToken.None);
        string rootfs = Path.Combine(_directory, "root.ext4");
        int files = await RootFilesystemImage.BuildAsync(image, rootfs, 64UL << 20, new Progress<string>(output.WriteLine), CancellationToken.None);
        Assert.True(files > 250, $"only {files} files in the root file system");

        var config = new VmConfig
        {
            KernelPath = image.KernelPath,
            InitrdPath = image.InitrdPath,
            CommandLine = DefaultGuestImage.SuggestedCommandLine + " root=/dev/vda",
            MemoryBytes = 256UL << 20,
            NoReboot = true,
            EntropyDevice = false,
            Disks = [new DiskSpec(rootfs)],
        };
        var console = new ScriptedConsole();
        using var vm = new Vm(config, new EmulatorEngine(), console);
        var run = Task.Run(vm.Run);
        string note = $"persisted {Guid.NewGuid():N}";
        try
        {
            int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
            at = console.WaitFor("# ", at, CommandTimeout);
            var mounts = Lines(console.Execute("grep ' / ' /proc/mounts; cat /etc/sharpvisor-rootfs", 1, ref at, CommandTimeout));
            Assert.Contains(mounts, l => l.StartsWith("/dev/vda / ext4 rw"));
            Assert.Contains(mounts, l => l.StartsWith("root file system of " + image.KernelVersion));
            var wrote = Lines(console.Execute($"echo '{note}' > /root/note.txt && sync && echo synced", 2, ref at, CommandTimeout));
            Assert.Contains("synced", wrote);
            console.Type("poweroff -f\n");
            var result = await run.WaitAsync(CommandTimeout);
            output.WriteLine($"outcome: {result.Outcome} ({result.Message}) after {result.Elapsed.TotalSeconds:0.0} s");
            Assert.Equal(VmOutcome.PoweredOff, result.Outcome);
        }
        finally
        {
            output.WriteLine(console.Output);
            vm.Stop("test finished");
            await run.WaitAsync(CommandTimeout);
        }

        string dumped = Path.Combine(_directory, "note.txt");
        Run("debugfs", $"-R \"dump /root/note.txt {dumped}\" {rootfs}");
        Assert.Equal(note + "\n", File.ReadAllText(dumped));
        Run("e2fsck", $"-fn {rootfs}");
    }

    private void Run(string program, string arguments)
    {
        var psi = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["PATH"] = "/usr/sbin:/sbin:" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"{program} did not start");
        string text = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        output.WriteLine($"{program} {arguments}: exit {process.ExitCode} {text}");
        Assert.True(process.ExitCode == 0, $"{program} {arguments} exited with {process.ExitCode}: {text}");
    }

    private static string Hex(byte[] hash) => Convert.ToHexString(hash).ToLowerInvariant();
}
