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
/// Debian's kernel on the emulator, saved at its shell with a file written in RAM (tmpfs), the folder moved
/// elsewhere, and resumed there in a new machine: the shell answers, the file is intact, and the guest's uptime went
/// on from where it was saved rather than jumping by the time the VM spent saved.
/// </summary>
public sealed class EmulatorLinuxSnapshotTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(2);
    private readonly string _root = Directory.CreateTempSubdirectory("sharpvisor-linux-snapshot-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Linux_saved_at_its_shell_resumes_from_a_moved_folder_with_its_files_and_clock()
    {
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        var config = new VmConfig
        {
            KernelPath = image.KernelPath, InitrdPath = image.InitrdPath, CommandLine = DefaultGuestImage.SuggestedCommandLine,
            MemoryBytes = 256UL << 20, Topology = CpuTopology.Flat(1), NoReboot = true,
        };
        string saved = Path.Combine(_root, "saved"), moved = Path.Combine(_root, "elsewhere", "vm");
        double uptimeAtSave;
        SnapshotResult result;
        var console = new ScriptedConsole();
        using (var vm = new Vm(config, new EmulatorEngine(), console))
        {
            var run = Task.Run(vm.Run);
            int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
            at = console.WaitFor("# ", at, CommandTimeout);
            console.Execute("seq 1 20000 > /root/numbers; sha256sum /root/numbers", 1, ref at, CommandTimeout);
            uptimeAtSave = Uptime(console.Execute("cat /proc/uptime", 2, ref at, CommandTimeout));
            result = vm.SaveSnapshot(saved, stopAfter: true);
            Assert.Equal(VmOutcome.Stopped, (await run.WaitAsync(CommandTimeout)).Outcome);
        }
        output.WriteLine($"Linux snapshot: {result.StoredPages} pages ({result.StoredBytes >> 20} MiB) of {config.MemoryBytes >> 20} MiB, " +
                         $"pause {result.Pausing.TotalMilliseconds:0} ms, write {result.Writing.TotalMilliseconds:0} ms");
        Assert.InRange(result.StoredPages, 1_000UL, config.MemoryBytes / 4096 * 3 / 4);

        Directory.CreateDirectory(Path.GetDirectoryName(moved)!);
        Directory.Move(saved, moved);
        Thread.Sleep(3000); // time that must not pass for the guest
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var snapshot = SnapshotStore.Load(moved);
        output.WriteLine($"loaded and verified in {clock.Elapsed.TotalMilliseconds:0} ms");
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
                string sums = restored.Execute("sha256sum /root/numbers", 3, ref at, CommandTimeout);
                output.WriteLine($"first command answered {clock.Elapsed.TotalMilliseconds:0} ms after loading began");
                Assert.Contains("/root/numbers", sums);
                Assert.Contains(Hash(console.Output), sums);
                double uptime = Uptime(restored.Execute("cat /proc/uptime", 4, ref at, CommandTimeout));
                output.WriteLine($"uptime {uptimeAtSave:0.00} s at save, {uptime:0.00} s after restore");
                Assert.InRange(uptime - uptimeAtSave, 0.0, 2.5); // the 3 s saved (and the save itself) did not pass for the guest
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
    }

    private static string Hash(string consoleOutput) =>
        consoleOutput.Split('\n').Select(l => l.Trim()).First(l => l.EndsWith("  /root/numbers")).Split(' ')[0];

    private static double Uptime(string text) =>
        double.Parse(text.Split('\n').Select(l => l.Trim()).First(l => l.Length > 0 && char.IsDigit(l[0])).Split(' ')[0],
            System.Globalization.CultureInfo.InvariantCulture);
}
