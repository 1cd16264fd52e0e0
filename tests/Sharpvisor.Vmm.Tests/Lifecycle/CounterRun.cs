using System.Text.RegularExpressions;
using Sharpvisor.Engines;
using Sharpvisor.TestGuests;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>The counter test guest running (forever) in a Vm on a thread, with its console captured.</summary>
internal sealed class CounterRun : IDisposable
{
    private static readonly Lazy<string> Elf = new(() =>
    {
        string path = Path.Combine(Path.GetTempPath(), $"sharpvisor-counter-{Environment.ProcessId}.elf");
        File.WriteAllBytes(path, TestGuestCatalog.Get("counter").BuildElf());
        return path;
    });

    private readonly Thread _thread;

    public ScriptedConsole Console { get; } = new();
    public Vm Vm { get; }
    public VmRunResult? Result { get; private set; }

    public CounterRun(IEngine engine, LoadedSnapshot? restore = null, int spin = 20_000, bool startPaused = false,
        DeviceStateRegistry? deviceStates = null, Func<VmConfig, VmConfig>? configure = null)
    {
        var config = restore?.Manifest.Config ?? (configure ?? (c => c))(new VmConfig
        {
            KernelPath = Elf.Value, CommandLine = $"ticks=0 spin={spin}", MemoryBytes = 64UL << 20, TestDevices = true,
        });
        Vm = new Vm(config, engine, Console)
        {
            RestoreFrom = restore, StartPaused = startPaused, DeviceStates = deviceStates ?? DeviceStateRegistry.Default,
        };
        _thread = new Thread(() => Result = Vm.Run()) { IsBackground = true };
        _thread.Start();
    }

    /// <summary>Waits for "tick N" followed by its line end.</summary>
    public void WaitForTick(ulong n, int timeoutSeconds = 60) => Console.WaitFor($"tick {n}\n", 0, TimeSpan.FromSeconds(timeoutSeconds));

    public VmRunResult Finish(TimeSpan timeout)
    {
        if (!_thread.Join(timeout)) throw new TimeoutException("the VM did not stop");
        return Result!;
    }

    public void Dispose()
    {
        Vm.Stop("test over");
        _thread.Join(TimeSpan.FromSeconds(30));
        Vm.Dispose();
    }

    /// <summary>The tick numbers in <paramref name="text"/>, which must be whole "tick N" lines.</summary>
    public static List<ulong> Ticks(string text) =>
        Regex.Matches(text, @"tick (\d+)\n").Select(m => ulong.Parse(m.Groups[1].Value)).ToList();

    /// <summary>Asserts that the ticks run 1, 2, 3 ... with no gap and no repeat, and that nothing else was printed.</summary>
    public static void AssertConsecutive(string text)
    {
        var ticks = Ticks(text);
        Assert.NotEmpty(ticks);
        for (int i = 0; i < ticks.Count; i++)
            Assert.True(ticks[i] == (ulong)i + 1, $"tick {i + 1} expected, got {ticks[i]} (console:\n{text})");
        string rest = Regex.Replace(text, @"tick \d+\n", "");
        Assert.True(rest.Length <= "tick 1234567".Length && Regex.IsMatch(rest, @"^(tick ?\d*)?$"),
            $"unexpected console output: '{rest}'");
    }
}
