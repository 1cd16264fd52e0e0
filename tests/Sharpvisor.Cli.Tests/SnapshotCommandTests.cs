using System.Diagnostics;
using System.Text.RegularExpressions;
using Sharpvisor.TestGuests;

namespace Sharpvisor.Cli.Tests;

/// <summary>The control socket and the snapshot verbs, driven as a user would: one `run`, commands from another process.</summary>
public sealed class SnapshotCommandTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sharpvisor-cli-snapshot-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string At(string name) => Path.Combine(_root, name);

    private static Process Start(params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add(SharpvisorProcess.DllPath);
        foreach (var a in arguments) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        process.StandardInput.Close();
        return process;
    }

    private static void WaitFor(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException(what);
            Thread.Sleep(50);
        }
    }

    private static List<long> Ticks(string path) =>
        Regex.Matches(File.ReadAllText(path), @"tick (\d+)\n").Select(m => long.Parse(m.Groups[1].Value)).ToList();

    /// <summary>`reset` reboots the guest (the counter starts over at 1); refused while paused; `status` says running.</summary>
    [Fact]
    public void Reset_through_the_control_socket_boots_the_guest_again()
    {
        string kernel = At("counter.elf"), socket = At("vm.sock"), console = At("console.out");
        File.WriteAllBytes(kernel, TestGuestCatalog.Get("counter").BuildElf());
        using var run = Start("run", "--kernel", kernel, "--cmdline", "ticks=0 spin=100000", "--test-devices", "--engine", "emulator",
            "--memory", "64M", "--control", socket, "--serial", $"file:{console}");
        try
        {
            WaitFor(() => File.Exists(console) && Ticks(console).Count >= 3, "the counter did not start");
            var reset = SharpvisorProcess.Run($"reset --control {socket}");
            Assert.True(reset.ExitCode == 0, reset.Stderr);
            WaitFor(() => Ticks(console).Skip(1).Contains(1), "the counter did not start over");
            Assert.Equal("running", SharpvisorProcess.Run($"status --control {socket}").Stdout.Trim());
            Assert.Equal(0, SharpvisorProcess.Run($"pause --control {socket}").ExitCode);
            var refused = SharpvisorProcess.Run($"reset --control {socket}");
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains("resume it before a reset", refused.Stderr);
            Assert.Equal(0, SharpvisorProcess.Run($"stop --control {socket}").ExitCode);
            Assert.True(run.WaitForExit(30_000));
            Assert.Equal(6, run.ExitCode);
        }
        finally
        {
            if (!run.HasExited) run.Kill();
        }
    }

    [Fact]
    public void Pause_snapshot_and_restore_through_the_control_socket()
    {
        string kernel = At("counter.elf"), socket = At("vm.sock"), first = At("first.out"), second = At("second.out"), snapshot = At("snap");
        File.WriteAllBytes(kernel, TestGuestCatalog.Get("counter").BuildElf());
        using var run = Start("run", "--kernel", kernel, "--cmdline", "ticks=0 spin=100000", "--test-devices", "--engine", "emulator",
            "--memory", "64M", "--control", socket, "--serial", $"file:{first}");
        try
        {
            WaitFor(() => File.Exists(first) && Ticks(first).Count >= 3, "the counter did not start");
            Assert.Equal(0, SharpvisorProcess.Run($"pause --control {socket}").ExitCode);
            var status = SharpvisorProcess.Run($"status --control {socket}");
            Assert.Equal("paused", status.Stdout.Trim());
            var again = SharpvisorProcess.Run($"pause --control {socket}");
            Assert.Equal(3, again.ExitCode);
            Assert.Contains("a VM that is paused cannot become paused", again.Stderr);
            var save = SharpvisorProcess.Run($"snapshot create {snapshot} --stop --control {socket}");
            Assert.True(save.ExitCode == 0, save.Stderr);
            Assert.Contains("saved and stopping", save.Stdout);
            Assert.True(run.WaitForExit(30_000));
            Assert.Equal(6, run.ExitCode);
        }
        finally
        {
            if (!run.HasExited) run.Kill();
        }

        long last = Ticks(first).Last();
        using var restored = Start("snapshot", "restore", snapshot, "--engine", "emulator", "--serial", $"file:{second}", "--control", socket);
        try
        {
            WaitFor(() => File.Exists(second) && Ticks(second).Count >= 3, "the restored counter did not go on");
            Assert.Equal(0, SharpvisorProcess.Run($"stop --control {socket}").ExitCode);
            Assert.True(restored.WaitForExit(30_000));
            Assert.Equal(6, restored.ExitCode);
        }
        finally
        {
            if (!restored.HasExited) restored.Kill();
        }
        // The restored guest goes on with the next number (its first line may continue the last one saved mid-line).
        string joined = File.ReadAllText(first) + File.ReadAllText(second);
        var ticks = Regex.Matches(joined, @"tick (\d+)\n").Select(m => long.Parse(m.Groups[1].Value)).ToList();
        Assert.Equal(Enumerable.Range(1, ticks.Count).Select(i => (long)i), ticks);
        Assert.True(ticks.Count > last);
    }

    [Fact]
    public void A_damaged_snapshot_is_refused_with_the_reason()
    {
        Directory.CreateDirectory(At("broken"));
        File.WriteAllBytes(Path.Combine(At("broken"), "vm.state"), "SVSNAP\r\n"u8.ToArray());
        var result = SharpvisorProcess.Run($"snapshot restore {At("broken")}");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("is truncated", result.Stderr);
        var none = SharpvisorProcess.Run($"run --restore {At("nothing")}");
        Assert.Equal(3, none.ExitCode);
        Assert.Contains("holds no snapshot", none.Stderr);
    }
}
