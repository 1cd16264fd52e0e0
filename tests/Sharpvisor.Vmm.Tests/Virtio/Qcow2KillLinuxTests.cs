using static Sharpvisor.Vmm.Tests.Lifecycle.ScriptedConsole;
using System.Text.RegularExpressions;
using Sharpvisor.Machine.Native;
using Sharpvisor.Machine.Storage;
using Sharpvisor.Machine.Storage.Qcow2;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Tests.Images;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Virtio;

/// <summary>
/// A VMM killed with SIGKILL in the middle of a Linux guest's writes to a qcow2 disk. One `sharpvisor run` on the
/// emulator: the guest writes file A on an ext4 file system inside the qcow2 image and syncs, then starts a stream of
/// 2 MiB files written with O_DIRECT, each synced and hashed, and the VMM is killed while that stream runs. `qemu-img check` must then find no error
/// (leaks are allowed: clusters counted whose L2 entries had not been written); our writable open gives back exactly
/// the clusters it calls leaked and leaves the image clean; a second VMM boots on it, finds A with its hash (the
/// journal replays at mount) and the stream's first three files with theirs, unmounts and powers off, and e2fsck finds
/// the file system clean.
/// </summary>
public sealed class Qcow2KillLinuxTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(3);
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-qcow2-kill-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [SkippableFact]
    public async Task A_SIGKILL_during_guest_writes_leaves_a_qcow2_image_that_checks_clean_and_keeps_synced_data()
    {
        HostRequires.Tool("qemu-img", "qemu-utils");
        HostRequires.Tool("mkfs.ext4", "e2fsprogs");
        await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        string cli = ChildVmm.EnsureCli();
        string raw = Path.Combine(_directory, "fs.raw"), disk = Path.Combine(_directory, "data.qcow2");
        Run("mkfs.ext4", "-q", "-F", raw, "64M");
        ImageConverter.Convert(raw, "raw", disk, "qcow2", compress: false);
        File.Delete(raw);
        string[] arguments = ["run", "--engine", "emulator", "-m", "256M", "--no-rng", "--disk", $"{disk},format=qcow2",
            "--serial", "stdio", "--cmdline", "console=ttyS0 panic=-1"];

        string hashA;
        string[] streamHashes;
        using (var first = new ChildVmm(cli, arguments))
        {
            try
            {
                int at = first.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
                var wrote = Lines(first.Execute("mkdir -p /mnt && mount /dev/vda /mnt && head -c 3145728 /dev/urandom > /mnt/a.bin && sync && sha256sum /mnt/a.bin", 1, ref at, CommandTimeout));
                hashA = HashOf(wrote, "/mnt/a.bin");
                long before = new FileInfo(disk).Length;
                // O_DIRECT: each 64 KiB write reaches the disk as it is made, so the kill lands among allocations whose
                // L2 entries wait for the next flush; each file is synced and hashed before the next begins.
                int streamFrom = at;
                first.Type("i=0; while true; do dd if=/dev/urandom of=/mnt/s$i bs=64k count=32 oflag=direct 2>/dev/null; sync; sha256sum /mnt/s$i; echo stream-$i; i=$((i+1)); done\n");
                at = first.WaitFor("stream-2", at, CommandTimeout);
                Thread.Sleep(Random.Shared.Next(50, 400));      // somewhere inside the next file's writes
                Assert.Equal(0, Libc.kill(first.VmmProcessId, 9));
                first.Process.WaitForExit(30_000);
                output.WriteLine($"killed; VMM exit code {first.Process.ExitCode}; the image grew from {before} to {new FileInfo(disk).Length} bytes");
                Assert.True(new FileInfo(disk).Length > before + (3 << 20), "the stream did not reach the image before the kill");
                var streamed = Lines(first.Output[streamFrom..]);
                streamHashes = Enumerable.Range(0, 3).Select(i => HashOf(streamed, $"/mnt/s{i}")).ToArray();
            }
            finally
            {
                output.WriteLine(first.Output);
                output.WriteLine(first.Errors);
            }
        }

        var (exit, check) = QemuImg("check", disk);
        output.WriteLine($"qemu-img check after the kill: exit {exit}\n{check}");
        Assert.True(exit is 0 or 3, $"qemu-img check exited {exit}: {check}");       // 3: leaked clusters, no errors
        Assert.DoesNotContain("ERROR", check);
        var leaks = Regex.Match(check, @"(\d+) leaked clusters were found");
        int leaked = leaks.Success ? int.Parse(leaks.Groups[1].Value) : 0;
        using (var reopened = Qcow2BlockBackend.Open(disk, readOnly: false))
        {
            Assert.Equal(leaked, reopened.LeakedClustersReclaimed);
            output.WriteLine($"qemu-img counted {leaked} leaked clusters; our writable open gave back {reopened.LeakedClustersReclaimed}");
        }
        var (exitAfter, checkAfter) = QemuImg("check", disk);
        Assert.True(exitAfter == 0 && checkAfter.Contains("No errors were found"), $"after our reopen: exit {exitAfter}: {checkAfter}");

        using (var second = new ChildVmm(cli, arguments))
        {
            try
            {
                int at = second.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
                var read = Lines(second.Execute("mkdir -p /mnt && mount /dev/vda /mnt && sha256sum /mnt/a.bin /mnt/s0 /mnt/s1 /mnt/s2 && umount /mnt && echo unmounted", 1, ref at, CommandTimeout));
                Assert.Equal(hashA, HashOf(read, "/mnt/a.bin"));
                for (int i = 0; i < 3; i++) Assert.Equal(streamHashes[i], HashOf(read, $"/mnt/s{i}"));
                Assert.Contains("unmounted", read);
                second.Type("poweroff -f\n");
                Assert.True(second.Process.WaitForExit(120_000), "the second VMM did not exit after poweroff");
                Assert.Equal(0, second.Process.ExitCode);
            }
            finally
            {
                output.WriteLine(second.Output);
                output.WriteLine(second.Errors);
            }
        }
        var (finalExit, finalCheck) = QemuImg("check", disk);
        Assert.True(finalExit == 0, $"after the second boot: {finalCheck}");
        string flat = Path.Combine(_directory, "after.raw");
        Assert.Equal(0, QemuImg("convert", "-O", "raw", disk, flat).Exit);
        Run("e2fsck", "-fn", flat);
    }

    private static string HashOf(string[] lines, string path) =>
        lines.Select(l => l.Split("  ")).Single(p => p.Length == 2 && p[1] == path && p[0].Length == 64)[0];

    private static (int Exit, string Output) QemuImg(params string[] arguments)
    {
        var (exit, text, error) = HostTools.Run("qemu-img", arguments, null);
        return (exit, text + error);
    }

    private void Run(string program, params string[] arguments)
    {
        var (exit, text, error) = HostTools.Run(program, arguments, null);
        output.WriteLine($"{program} {string.Join(' ', arguments)}: exit {exit} {text}{error}");
        Assert.True(exit == 0, $"{program} exited with {exit}: {text}{error}");
    }
}
