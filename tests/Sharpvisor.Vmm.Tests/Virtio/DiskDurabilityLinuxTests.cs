using static Sharpvisor.Vmm.Tests.Lifecycle.ScriptedConsole;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Sharpvisor.Vmm.Images;
using Xunit.Abstractions;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Vmm.Tests.Virtio;

/// <summary>
/// Data a Linux guest wrote to its virtio disk and synced survives a guest reboot and a SIGKILL of the VMM. One
/// `sharpvisor run` process on the emulator (under strace, watching fdatasync): the guest writes file A on an ext4
/// disk, syncs, reboots (without reboot=acpi: Linux returns to real mode and jumps to the reset vector, whose code
/// resets the machine); after the reboot it checks A's sha256, writes file B, syncs, and the moment it prints that
/// sync finished the VMM is killed with SIGKILL. Each sync must have made the VMM call fdatasync on the image between
/// the command and its answer. A second `sharpvisor run` on the same image then reads A and B with the right hashes,
/// unmounts and powers off, and e2fsck finds the file system clean.
/// </summary>
public sealed partial class DiskDurabilityLinuxTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(3);
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-durability-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [SkippableFact]
    public async Task Synced_data_survives_a_guest_reboot_and_a_SIGKILL_of_the_VMM()
    {
        HostRequires.Tool("strace", "strace");   // the fdatasync ordering is half of what this test checks
        await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        string cli = ChildVmm.EnsureCli();
        string disk = Path.Combine(_directory, "data.ext4");
        Run("mkfs.ext4", "-q", "-F", disk, "32M");
        string trace = Path.Combine(_directory, "strace.txt");
        // No reboot=acpi: the guest's reboot goes the long way, through real mode and the reset vector's code.
        string[] arguments = ["run", "--engine", "emulator", "-m", "256M", "--no-rng", "--disk", disk, "--serial", "stdio",
            "--cmdline", "console=ttyS0 panic=-1"];

        string hashA, hashB;
        using (var first = new ChildVmm(cli, arguments, ("fdatasync", trace)))
        {
            try
            {
                int at = first.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
                var wrote = Lines(first.Execute("mkdir -p /mnt && mount /dev/vda /mnt && head -c 2097152 /dev/urandom > /mnt/a.bin && sha256sum /mnt/a.bin", 1, ref at, CommandTimeout));
                hashA = HashOf(wrote, "/mnt/a.bin");
                var syncA = SyncWindow(first, 2, ref at);

                first.Type("reboot -f\n");
                at = first.WaitFor(DefaultGuestImage.ReadyLinePrefix, at, BootTimeout);
                output.WriteLine("rebooted");
                var after = Lines(first.Execute("mkdir -p /mnt && mount /dev/vda /mnt && sha256sum /mnt/a.bin", 3, ref at, CommandTimeout));
                Assert.Equal(hashA, HashOf(after, "/mnt/a.bin"));
                var wroteB = Lines(first.Execute("head -c 1048576 /dev/urandom > /mnt/b.bin && sha256sum /mnt/b.bin", 4, ref at, CommandTimeout));
                hashB = HashOf(wroteB, "/mnt/b.bin");
                var syncB = SyncWindow(first, 5, ref at);
                // Killed the moment the guest says its sync finished.
                Assert.Equal(0, Libc.kill(first.VmmProcessId, 9));
                first.Process.WaitForExit(30_000);
                output.WriteLine($"killed; VMM exit code {first.Process.ExitCode}");

                var calls = FdatasyncCalls(File.ReadAllLines(trace));
                output.WriteLine($"fdatasync calls that returned 0: {calls.Count}");
                foreach (var (name, (start, end)) in new[] { ("A", syncA), ("B", syncB) })
                    Assert.True(calls.Any(t => t >= start && t <= end),
                        $"no fdatasync returned between typing sync for {name} ({start}) and the guest's answer ({end}): {string.Join(", ", calls)}");
            }
            finally
            {
                output.WriteLine(first.Output);
                output.WriteLine(first.Errors);
            }
        }

        using (var second = new ChildVmm(cli, arguments))
        {
            try
            {
                int at = second.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
                var read = Lines(second.Execute("mkdir -p /mnt && mount /dev/vda /mnt && sha256sum /mnt/a.bin /mnt/b.bin && umount /mnt && echo unmounted", 1, ref at, CommandTimeout));
                Assert.Equal(hashA, HashOf(read, "/mnt/a.bin"));
                Assert.Equal(hashB, HashOf(read, "/mnt/b.bin"));
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
        Run("e2fsck", "-fn", disk);
    }

    /// <summary>Runs sync in the guest; returns the host's time of day just before typing and when the answer came.</summary>
    private static (TimeSpan Start, TimeSpan End) SyncWindow(ChildVmm vmm, int sequence, ref int at)
    {
        var start = DateTime.Now.TimeOfDay;
        var lines = Lines(vmm.Execute("sync && echo synced-$((40+2))", sequence, ref at, CommandTimeout));
        var end = DateTime.Now.TimeOfDay;
        Assert.Contains("synced-42", lines);
        return (start, end);
    }

    private static string HashOf(string[] lines, string path) =>
        lines.Select(l => l.Split("  ")).Single(p => p.Length == 2 && p[1] == path && p[0].Length == 64)[0];

    // strace -f -tt: "PID HH:MM:SS.ffffff fdatasync(FD) = 0" (or split into unfinished/resumed halves).
    [GeneratedRegex(@"^\d+\s+(\d\d:\d\d:\d\d\.\d+)\s+(?:<\.\.\. )?fdatasync.*= 0\s*$")]
    private static partial Regex FdatasyncReturned();

    private static List<TimeSpan> FdatasyncCalls(string[] lines) =>
        lines.Select(l => FdatasyncReturned().Match(l)).Where(m => m.Success)
            .Select(m => TimeSpan.ParseExact(m.Groups[1].Value, @"hh\:mm\:ss\.ffffff", CultureInfo.InvariantCulture)).ToList();

    private void Run(string program, params string[] arguments)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments) psi.ArgumentList.Add(a);
        psi.Environment["PATH"] = "/usr/sbin:/sbin:" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"{program} did not start");
        string text = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        output.WriteLine($"{program} {string.Join(' ', arguments)}: exit {process.ExitCode} {text}");
        Assert.True(process.ExitCode == 0, $"{program} exited with {process.ExitCode}: {text}");
    }
}
