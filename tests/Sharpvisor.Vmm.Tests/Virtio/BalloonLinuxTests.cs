using static Sharpvisor.Vmm.Tests.Lifecycle.ScriptedConsole;
using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Virtio;

/// <summary>
/// Debian's kernel on the emulator with virtio-balloon, one boot of a 256 MiB guest. The guest fills a tmpfs with
/// 128 MiB and deletes it: with free page reporting switched off in the guest, the VMM's RSS stays up (the control);
/// then the balloon is inflated through the control socket and the RSS falls. The balloon is deflated (the guest gets
/// its memory back), reporting is switched on again, the tmpfs filled and deleted once more, and the RSS falls through
/// free page reporting alone. "RSS" here is the guest RAM's resident part, counted with mincore. The guest's statistics arrive and name its 256 MiB.
/// </summary>
public sealed class BalloonLinuxTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(3);
    private const ulong GuestMemory = 256UL << 20, Fill = 128UL << 20;
    private const string ReportingOrder = "/sys/module/page_reporting/parameters/page_reporting_order";
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-balloon-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task The_VMM_gives_guest_memory_back_to_the_host_through_inflation_and_free_page_reporting()
    {
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        var config = new VmConfig
        {
            KernelPath = image.KernelPath,
            InitrdPath = image.InitrdPath,
            CommandLine = DefaultGuestImage.SuggestedCommandLine,
            MemoryBytes = GuestMemory,
            Topology = CpuTopology.Flat(1),
            NoReboot = true,
            EntropyDevice = false,
            BalloonDevice = true,
        };
        var console = new ScriptedConsole();
        using var vm = new Vm(config, new EmulatorEngine(), console);
        string socket = Path.Combine(_directory, "control.sock");
        using var control = new VmControlServer(vm, socket);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var run = Task.Run(vm.Run);
        string Control(string command) => VmControlServer.Send(socket, command, TimeSpan.FromSeconds(30));
        try
        {
            int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
            at = console.WaitFor("# ", at, CommandTimeout);
            var balloon = vm.Balloon!;
            int step = 0;
            string Guest(string command, ref int at) => console.Execute(command, ++step, ref at, CommandTimeout);

            var setup = Lines(Guest($"echo drivers=$(ls /sys/bus/virtio/drivers/virtio_balloon | grep -c virtio) order=$(cat {ReportingOrder}); mkdir -p /fill && mount -t tmpfs -o size=200m tmpfs /fill && echo mounted", ref at));
            output.WriteLine("setup: " + string.Join(" | ", setup));
            string found = setup.Single(l => l.StartsWith("drivers=") && !l.Contains('$'));
            Assert.StartsWith("drivers=1 order=", found);
            Assert.Contains("mounted", setup);
            Assert.True(balloon.StatisticsNegotiated && balloon.ReportingNegotiated, "the driver did not negotiate statistics and reporting");
            string defaultOrder = found["drivers=1 order=".Length..];

            // Statistics: the driver's first buffer arrives at probe time; a request brings fresh figures.
            string stats = Control("balloon stats");
            output.WriteLine(stats);
            Assert.StartsWith("ok ", stats);
            var figures = balloon.Statistics!;
            Assert.InRange(figures[VirtioBalloonStatistics.MemoryTotal] ?? 0, 200UL << 20, GuestMemory);
            Assert.InRange(figures[VirtioBalloonStatistics.MemoryFree] ?? 0, 64UL << 20, GuestMemory);
            Assert.Contains("stat-total-memory=", stats);

            // 1. Inflation, with free page reporting off so it cannot be what returns the memory.
            Guest($"echo 99 > {ReportingOrder}", ref at);
            long baseline = Rss(vm, "baseline");
            FillTmpfs(ref at);
            DeleteTmpfs(ref at);
            long filled = Rss(vm, "after filling and deleting 128 MiB, reporting off");
            Assert.True(filled - baseline > 64L << 20, $"filling 128 MiB raised the RSS by only {(filled - baseline) >> 20} MiB");
            Thread.Sleep(3000);
            long control2 = Rss(vm, "3 s later, nothing given back");
            Assert.True(filled - control2 < 16L << 20, $"the RSS fell by {(filled - control2) >> 20} MiB with no balloon and no reporting");

            Assert.StartsWith("ok ", Control("balloon 96M"));         // the balloon takes 160 MiB
            uint target = (uint)((GuestMemory - (96UL << 20)) / 4096);
            Assert.Equal(target, balloon.TargetPages);
            WaitUntil(() => balloon.ActualPages == target, TimeSpan.FromMinutes(3), () => $"actual {balloon.ActualPages} of {target} pages");
            long inflated = Rss(vm, "balloon at 160 MiB");
            output.WriteLine($"inflated pages returned: {balloon.PagesReturned}");
            Assert.True(balloon.PagesReturned >= target);
            Assert.True(filled - inflated > 64L << 20, $"inflating by 160 MiB lowered the RSS by only {(filled - inflated) >> 20} MiB");
            var inGuest = Lines(Guest("grep MemTotal /proc/meminfo", ref at));
            output.WriteLine(string.Join(" | ", inGuest));

            // 2. Deflation, then free page reporting alone.
            Assert.StartsWith("ok ", Control("balloon 256M"));
            WaitUntil(() => balloon.ActualPages == 0, TimeSpan.FromMinutes(3), () => $"actual {balloon.ActualPages} pages after deflating");
            Assert.True(balloon.PagesDeflated >= target, $"{balloon.PagesDeflated} pages deflated");
            Guest($"echo {defaultOrder} > {ReportingOrder}", ref at);
            long reportedBefore = balloon.PagesReported;
            long low = Rss(vm, "deflated");
            FillTmpfs(ref at);
            long refilled = Rss(vm, "filled again, reporting on");
            Assert.True(refilled - low > 64L << 20, $"filling 128 MiB after deflating raised the RSS by only {(refilled - low) >> 20} MiB");
            DeleteTmpfs(ref at);
            WaitUntil(() => Rss(vm, null) < refilled - (64L << 20), TimeSpan.FromMinutes(2), () => $"RSS {Rss(vm, null) >> 20} MiB, {balloon.PagesReported - reportedBefore} pages reported");
            long reported = Rss(vm, "after free page reporting");
            output.WriteLine($"pages reported: {balloon.PagesReported - reportedBefore} ({(balloon.PagesReported - reportedBefore) * 4096 >> 20} MiB); low {low >> 20} MiB");
            Assert.True(balloon.PagesReported - reportedBefore >= (64L << 20) / 4096);

            // The guest still works on memory it got back: fill and check what it reads.
            // (16 MiB of zeros: the guest's sha256sum is slow on the emulator.)
            string zeros = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(new byte[16 << 20])).ToLowerInvariant();
            var check = Lines(Guest("dd if=/dev/zero of=/fill/b bs=1M count=16 2>/dev/null; sha256sum /fill/b; rm /fill/b", ref at));
            Assert.Contains($"{zeros}  /fill/b", check);

            string final = Control("balloon stats");
            output.WriteLine(final);
            Assert.True(balloon.Statistics!.Sequence > figures.Sequence, "no fresh statistics arrived");

            console.Type("poweroff -f\n");
            var result = await run.WaitAsync(CommandTimeout);
            Assert.Equal(VmOutcome.PoweredOff, result.Outcome);
        }
        finally
        {
            output.WriteLine(console.Output);
            vm.Stop("test finished");
            await run.WaitAsync(CommandTimeout);
        }

        void FillTmpfs(ref int at)
        {
            var lines = Lines(console.Execute($"dd if=/dev/zero of=/fill/a bs=1M count={Fill >> 20} 2>&1 | tail -1; echo filled",
                100 + at % 1000, ref at, CommandTimeout));
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: " + string.Join(" | ", lines));
            Assert.Contains("filled", lines);
        }

        void DeleteTmpfs(ref int at)
        {
            var lines = Lines(console.Execute("rm /fill/a; echo deleted", 100 + at % 1000, ref at, CommandTimeout));
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: deleted");
            Assert.Contains("deleted", lines);
        }
    }

    /// <summary>
    /// The guest RAM present in host memory (mincore over the VM's mapping): unlike the process's RSS, other test
    /// classes running in this process at the same time do not move it.
    /// </summary>
    private long Rss(Vm vm, string? what)
    {
        long bytes = (long)(vm.GuestResidentBytes ?? throw new InvalidOperationException("the VM is not running"));
        if (what is not null) output.WriteLine($"{DateTime.UtcNow:HH:mm:ss} guest RAM resident {what}: {bytes >> 20} MiB");
        return bytes;
    }

    private static void WaitUntil(Func<bool> condition, TimeSpan timeout, Func<string> state)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not reached in {timeout.TotalSeconds:0} s: {state()}");
            Thread.Sleep(200);
        }
    }
}
