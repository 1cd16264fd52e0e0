using System.Diagnostics;
using Sharpvisor.Host.Confinement;
using Sharpvisor.Vmm.Images;
using Xunit.Abstractions;

namespace Sharpvisor.Host.Tests.Confinement;

/// <summary>The real VMM, `sharpvisor run` of the default guest on the emulator, confined as the daemon will run it.</summary>
public sealed class RealVmmTests(ITestOutputHelper output)
{
    private const long GuestMemory = 128L << 20;

    [SkippableFact]
    public async Task The_default_guest_boots_to_its_ready_line_in_a_confined_vmm_within_its_memory_budget()
    {
        using var fixture = new ConfinementFixture();
        var spec = await VmmSpec(fixture, "real-boot", 8, new VmmResourceLimits(1, VmmMemoryBudget.LimitFor(GuestMemory)));
        var vmm = fixture.Launch(spec);

        string serial = Path.Combine(spec.VmDirectory, "serial.log");
        bool ready = SpinWait.SpinUntil(() => vmm.HasExited || (File.Exists(serial) && File.ReadAllText(serial).Contains(DefaultGuestImage.ReadyLinePrefix)),
            TimeSpan.FromSeconds(180));
        Assert.True(ready && !vmm.HasExited,
            $"{(vmm.HasExited ? vmm.Exited.Result.Reason : "no ready line")}; log: {ConfinementFixture.Log(spec)}; serial: {(File.Exists(serial) ? File.ReadAllText(serial) : "none")}");
        Thread.Sleep(5000); // idle at the shell for a moment, as a VM mostly is
        var (current, peak) = vmm.Cgroup.MemoryUsage();
        string status = File.ReadAllText($"/proc/{vmm.Pid}/status");
        output.WriteLine($"cgroup memory: {current >> 20} MiB now, {peak >> 20} MiB peak; limit {spec.Limits.MemoryLimitBytes >> 20} MiB");
        output.WriteLine(string.Join('\n', status.Split('\n').Where(l => l.StartsWith("VmRSS") || l.StartsWith("Rss") || l.StartsWith("Threads"))));
        long guest = GuestResidentBytes(vmm.Pid), rss = long.Parse(status.Split('\n').First(l => l.StartsWith("VmRSS:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) << 10;
        output.WriteLine($"guest RAM resident {guest >> 20} MiB; VMM overhead: VmRSS - guest = {(rss - guest) >> 20} MiB, cgroup - guest = {(current - guest) >> 20} MiB");
        string stat = Path.Combine(vmm.Cgroup.Directories["memory"], "memory.stat");
        output.WriteLine(string.Join("; ", File.ReadAllLines(stat).Where(l => l.Split(' ')[0] is "cache" or "rss" or "shmem" or "mapped_file" or "file" or "anon" or "kernel")));

        Assert.True((peak ?? current) - guest < VmmMemoryBudget.OverheadBytes,
            $"the VMM's own share ({(peak - guest) >> 20} MiB at the peak) exceeds the budget's {VmmMemoryBudget.OverheadBytes >> 20} MiB");
        Assert.Matches($@"Uid:\s+{spec.Identity.Uid}\s", status);
        Assert.True(File.Exists(Path.Combine(spec.VmDirectory, "control.sock")), "the VMM made no control socket in its directory");
        vmm.Kill();
        Assert.Equal("killed by signal 9 (SIGKILL)", ConfinementFixture.WaitExit(vmm).Reason);
    }

    [SkippableFact]
    public async Task A_vmm_whose_guest_outgrows_its_memory_limit_is_oom_killed_and_the_reason_says_so()
    {
        using var fixture = new ConfinementFixture();
        // The runtime and the emulator alone take more than this: the kernel stops the VMM while the guest boots.
        var spec = await VmmSpec(fixture, "real-oom", 9, new VmmResourceLimits(1, 64L << 20));

        var exit = ConfinementFixture.WaitExit(fixture.Launch(spec), 300);

        Assert.True(exit.OomKilled, $"{exit.Reason}; log: {ConfinementFixture.Log(spec)}");
        Assert.Equal("killed by the kernel's OOM killer (memory limit 64 MiB)", exit.Reason);
    }

    private async Task<VmmLaunchSpec> VmmSpec(ConfinementFixture fixture, string name, int uidOffset, VmmResourceLimits limits)
    {
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        string cli = EnsureCli();
        string directory = fixture.MakeVmDirectory(name);
        return fixture.Spec(name, uidOffset,
            ["/usr/bin/dotnet", cli, "run", "--engine", "emulator", "--memory", $"{GuestMemory >> 20}M", "--kernel", image.KernelPath,
             "--initrd", image.InitrdPath, "--cmdline", DefaultGuestImage.SuggestedCommandLine, "--serial", "file:" + Path.Combine(directory, "serial.log"),
             "--control", Path.Combine(directory, "control.sock")], limits) with
        {
            ReadablePaths = [Path.GetDirectoryName(cli)!, image.KernelPath, image.InitrdPath, DotnetRoot()],
        };
    }

    // Guest RAM is the MAP_NORESERVE mapping ("nr") of the guest's size (the kernel may merge a small neighbour into it);
    // its Rss is the guest pages the VMM holds.
    private static long GuestResidentBytes(int pid)
    {
        long size = 0, rss = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length > 1 && words[0].Contains('-') && char.IsAsciiHexDigit(line[0]) && words[0].Split('-') is [var from, var to])
                size = Convert.ToInt64(to, 16) - Convert.ToInt64(from, 16);
            else if (words is ["Rss:", var kilobytes, ..]) rss = long.Parse(kilobytes) << 10;
            else if (words is ["VmFlags:", ..] && words.Contains("nr") && size >= GuestMemory && size < GuestMemory + (1 << 20))
                return rss;
        }
        throw new InvalidOperationException($"no {GuestMemory >> 20} MiB mapping in /proc/{pid}/smaps");
    }

    // Where the dotnet host's runtime lives (/usr/share/dotnet on Debian; elsewhere for a user install).
    private static string DotnetRoot() =>
        Path.GetDirectoryName(new FileInfo(HostRequires.FindOnPath("dotnet")!).ResolveLinkTarget(true)?.FullName ?? HostRequires.FindOnPath("dotnet")!)!;

    /// <summary>./sharpvisor builds the CLI when its sources changed; its output is .build/cli/sharpvisor.dll.</summary>
    internal static string EnsureCli()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Sharpvisor.slnx"))) root = root.Parent;
        Assert.NotNull(root);
        using var build = Process.Start(new ProcessStartInfo(Path.Combine(root.FullName, "sharpvisor"), "--help")
            { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string text = build.StandardOutput.ReadToEnd() + build.StandardError.ReadToEnd();
        build.WaitForExit();
        Assert.True(build.ExitCode == 0, $"./sharpvisor --help: {text}");
        return Path.Combine(root.FullName, ".build", "cli", "sharpvisor.dll");
    }
}
