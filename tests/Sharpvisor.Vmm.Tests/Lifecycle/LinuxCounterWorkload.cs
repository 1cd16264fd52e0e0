using System.Diagnostics;
using System.Text.RegularExpressions;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>
/// A counter that Debian's kernel on the default guest keeps in memory and on a virtio disk: each tick reads the
/// counter from a file in the initramfs (RAM), adds one, writes it back, appends it to /mnt/counter on an ext4 virtio
/// disk, syncs, and only then prints "count N" on the serial console. A newline typed at the console ends the loop,
/// which then prints "stopped at N" with the value in RAM. The serial stream and the disk file must both read
/// 1, 2, 3 ... with no gap and no repeat, whatever happened to the VM in between.
/// </summary>
internal sealed partial class LinuxCounterWorkload(string directory, ITestOutputHelper output)
{
    public static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(20), CommandTimeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Mounts the disk and runs the counter in the foreground; read -t paces the ticks and listens for the stop. The
    /// kernel's console messages are silenced first: printk writes to the UART past the tty, so it could split a line.
    /// </summary>
    public const string StartCommand =
        "dmesg -n 1 && mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && echo 0 > /tmp/counter && " +
        "while ! read -t 0.05 line; do read i < /tmp/counter; i=$((i+1)); echo $i > /tmp/counter; " +
        "echo $i >> /mnt/counter; sync; echo \"count $i\"; done; echo \"stopped at $(cat /tmp/counter)\"\n";

    public string DiskPath { get; } = Path.Combine(directory, "counter.ext4");

    /// <summary>An empty 32 MiB ext4 image for the counter.</summary>
    public void CreateDisk() => Run("mkfs.ext4", $"-q -F {DiskPath} 32M");

    public VmConfig Config(GuestImage image, int memoryMiB = 256) => new()
    {
        KernelPath = image.KernelPath, InitrdPath = image.InitrdPath, CommandLine = DefaultGuestImage.SuggestedCommandLine,
        MemoryBytes = (ulong)memoryMiB << 20, Topology = CpuTopology.Flat(1), NoReboot = true,
        Disks = [new DiskSpec(DiskPath)],
    };

    /// <summary>Waits for the line "count N" anywhere in the console's output; returns the index after it.</summary>
    public static int WaitForCount(ScriptedConsole console, long n, TimeSpan timeout) =>
        console.WaitFor($"\ncount {n}\r\n", 0, timeout);

    /// <summary>The counter values printed in <paramref name="serial"/>, in order.</summary>
    public static List<long> Counts(string serial) =>
        CountLine().Matches(serial).Select(m => long.Parse(m.Groups[1].Value)).ToList();

    /// <summary>Asserts the values run 1, 2, 3 ... with no gap and no repeat.</summary>
    public static void AssertConsecutive(IReadOnlyList<long> values, string what)
    {
        Assert.True(values.Count > 0, $"{what}: no counter values");
        for (int i = 0; i < values.Count; i++)
            Assert.True(values[i] == i + 1,
                $"{what}: value {i + 1} expected at position {i + 1}, found {values[i]} (around: {string.Join(' ', values.Skip(Math.Max(0, i - 3)).Take(7))})");
    }

    /// <summary>
    /// The counter file as the disk holds it: a copy of the image has its journal replayed by e2fsck (as a mount
    /// after a crash would), must then be clean, and the file is dumped with debugfs.
    /// </summary>
    public List<long> ReadCounterFromCopy(string image, string name)
    {
        string copy = Path.Combine(directory, name + ".ext4");
        File.Copy(image, copy, overwrite: true);
        int replay = Run("e2fsck", $"-fy {copy}", allowed: [0, 1]);
        output.WriteLine($"{name}: e2fsck -fy exit {replay} (1: it replayed the journal or fixed something)");
        Run("e2fsck", $"-fn {copy}");
        var values = ReadCounter(copy, name);
        File.Delete(copy);
        return values;
    }

    /// <summary>A raw copy of what a disk image and its backing files hold (a snapshot's frozen image, a VM's
    /// overlay), for e2fsck and debugfs.</summary>
    public string Flatten(string image, string name)
    {
        string flat = Path.Combine(directory, $"{name}.raw");
        QemuImg.Ok("qemu-img", "convert", "-O", "raw", image, flat);
        return flat;
    }

    /// <summary>The counter file in a cleanly unmounted image, dumped with debugfs.</summary>
    public List<long> ReadCounter(string image, string name)
    {
        string dumped = Path.Combine(directory, name + ".txt");
        Run("debugfs", $"-R \"dump /counter {dumped}\" {image}");
        Assert.True(File.Exists(dumped), $"{name}: debugfs did not dump /counter");
        string text = File.ReadAllText(dumped);
        Assert.True(text.Length == 0 || text.EndsWith('\n'), $"{name}: the counter file ends in a partial line: '{text[^Math.Min(20, text.Length)..]}'");
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToList();
    }

    /// <summary>e2fsck -fn: the file system is clean (exit 0), nothing changed.</summary>
    public void AssertClean(string image) => Run("e2fsck", $"-fn {image}");

    public int Run(string program, string arguments, int[]? allowed = null)
    {
        var psi = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["PATH"] = "/usr/sbin:/sbin:" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"{program} did not start");
        var error = process.StandardError.ReadToEndAsync();
        string text = process.StandardOutput.ReadToEnd() + error.Result;
        process.WaitForExit();
        output.WriteLine($"{program} {arguments}: exit {process.ExitCode} {text.Trim()}");
        Assert.True((allowed ?? [0]).Contains(process.ExitCode), $"{program} {arguments} exited with {process.ExitCode}: {text}");
        return process.ExitCode;
    }

    [GeneratedRegex(@"(?m)^count (\d+)\r?$")]
    private static partial Regex CountLine();
}
