using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Sharpvisor.Cli.Tests;

/// <summary>
/// Two sharpvisor processes: `run --incoming` and a counter guest under `run --control`; `migrate --json` moves the
/// guest, both exit 0 and the destination's console goes on counting where the source's stopped.
/// </summary>
public sealed class MigrateCommandTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-migrate-cli-").FullName;
    private readonly List<Process> _processes = [];

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.Dispose();
        }
        Directory.Delete(_directory, recursive: true);
    }

    private (Process Process, StringBuilder Stderr) Start(string arguments, string? commandLine = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(SharpvisorProcess.DllPath);
        foreach (var a in arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)) info.ArgumentList.Add(a);
        if (commandLine is not null)
        {
            info.ArgumentList.Add("--cmdline");
            info.ArgumentList.Add(commandLine);
        }
        var process = Process.Start(info)!;
        _processes.Add(process);
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        return (process, stderr);
    }

    /// <summary>Counter spin per tick: a tick every few ms on the emulator; KVM under PVM spins ~4 µs an iteration.</summary>
    private static int Spin(string engine) => engine == "kvm" ? 5_000 : 100_000;

    private static void WaitFor(Func<bool> condition, string what, int seconds = 60)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException(what);
            Thread.Sleep(100);
        }
    }

    private static string Text(string path)
    {
        try { return File.Exists(path) ? File.ReadAllText(path) : ""; }
        catch (IOException) { return ""; }
    }

    [SkippableTheory]
    [InlineData("emulator")]
    [InlineData("kvm")]
    public void Migrate_moves_a_counting_guest_to_another_process_and_both_exit_0(string engine)
    {
        HostRequires.Engine(engine);
        string elf = Path.Combine(_directory, "counter.elf");
        File.WriteAllBytes(elf, Sharpvisor.TestGuests.TestGuestCatalog.Get("counter").BuildElf());
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
        string srcLog = Path.Combine(_directory, "src.log"), dstLog = Path.Combine(_directory, "dst.log");
        string srcSock = Path.Combine(_directory, "src.sock"), dstSock = Path.Combine(_directory, "dst.sock");

        var (destination, dstErr) = Start($"run --incoming 127.0.0.1:{port} --engine {engine} --serial file:{dstLog} --control {dstSock}");
        var (source, srcErr) = Start($"run --kernel {elf} --memory 64M --test-devices --engine {engine} --serial file:{srcLog} --control {srcSock}", $"ticks=0 spin={Spin(engine)}");
        WaitFor(() => dstErr.ToString().Contains($"sharpvisor: waiting for a migration on 127.0.0.1:{port}"), "the destination did not listen");
        WaitFor(() => Text(srcLog).Contains("tick 3\n"), "the source did not count");

        var migrate = SharpvisorProcess.Run($"migrate --control {srcSock} --to 127.0.0.1:{port} --max-downtime 50ms --json", timeoutSeconds: 120);
        output.WriteLine($"migrate: exit {migrate.ExitCode}\n{migrate.Stdout}\n{migrate.Stderr}");
        Assert.Equal(0, migrate.ExitCode);
        using var json = JsonDocument.Parse(migrate.Stdout.Trim());
        Assert.Equal("completed", json.RootElement.GetProperty("status").GetString());
        foreach (var key in new[] { "total_ms", "downtime_ms", "rounds", "bytes_sent", "pages_sent" })
            Assert.True(json.RootElement.GetProperty(key).GetDouble() > 0, $"{key} is not positive");
        Assert.Contains("round 1", migrate.Stderr);

        Assert.True(source.WaitForExit(30_000), "the source did not exit");
        output.WriteLine($"source: exit {source.ExitCode}\n{srcErr}");
        Assert.Equal(0, source.ExitCode);
        Assert.Contains($"migrated to 127.0.0.1:{port}", srcErr.ToString());

        string before = Text(srcLog);
        ulong last = ulong.Parse(before.TrimEnd().Split('\n').Last(l => l.StartsWith("tick ")).Trim()[5..]);
        WaitFor(() => Text(dstLog).Contains($"tick {last + 3}\n"), "the destination did not go on counting");
        var status = SharpvisorProcess.Run($"status --control {dstSock}");
        Assert.Equal("running", status.Stdout.Trim());
        SharpvisorProcess.Run($"stop --control {dstSock}");
        Assert.True(destination.WaitForExit(30_000), "the destination did not stop");
        output.WriteLine($"destination: exit {destination.ExitCode}\n{dstErr}");
        Assert.Equal(6, destination.ExitCode);
        var ticks = (before + Text(dstLog)).Split('\n').Where(l => l.StartsWith("tick ")).Select(l => ulong.Parse(l.Trim()[5..])).ToList();
        for (int i = 0; i < ticks.Count; i++) Assert.Equal((ulong)i + 1, ticks[i]);
    }

    [SkippableTheory]
    [InlineData("emulator")]
    [InlineData("kvm")]
    public void Migrate_to_nowhere_exits_3_with_the_reason_and_the_vm_goes_on(string engine)
    {
        HostRequires.Engine(engine);
        string elf = Path.Combine(_directory, "counter.elf");
        File.WriteAllBytes(elf, Sharpvisor.TestGuests.TestGuestCatalog.Get("counter").BuildElf());
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
        string srcLog = Path.Combine(_directory, "src.log"), srcSock = Path.Combine(_directory, "src.sock");
        var (source, _) = Start($"run --kernel {elf} --memory 64M --test-devices --engine {engine} --serial file:{srcLog} --control {srcSock}", $"ticks=0 spin={Spin(engine)}");
        WaitFor(() => Text(srcLog).Contains("tick 2\n"), "the source did not count");
        var migrate = SharpvisorProcess.Run($"migrate --control {srcSock} --to 127.0.0.1:{port} --json");
        output.WriteLine($"{migrate.Stdout}\n{migrate.Stderr}");
        Assert.Equal(3, migrate.ExitCode);
        Assert.Contains("cannot connect", migrate.Stderr);
        Assert.Equal("failed", JsonDocument.Parse(migrate.Stdout.Trim()).RootElement.GetProperty("status").GetString());
        Assert.Equal("running", SharpvisorProcess.Run($"status --control {srcSock}").Stdout.Trim());
        SharpvisorProcess.Run($"stop --control {srcSock}");
        Assert.True(source.WaitForExit(30_000));
    }
}
