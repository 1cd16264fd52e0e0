using System.Net;
using System.Net.Sockets;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Migration;

/// <summary>Whatever goes wrong on the way, the source VM goes on running as if nothing happened.</summary>
public sealed class MigrationFailureTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("emulator")]
    [InlineData("kvm")]
    public void A_refused_connection_leaves_the_source_running_and_counting(string engine)
    {
        using var source = new CounterRun(TestEngines.Create(engine), spin: TestEngines.Spin(engine));
        source.WaitForTick(3);
        int port = FreePort();
        var e = Assert.Throws<MigrationException>(() =>
            source.Vm.MigrateTo("127.0.0.1", port, new MigrationOptions { Timeout = TimeSpan.FromSeconds(5) }));
        output.WriteLine(e.Message);
        Assert.Contains($"cannot connect to 127.0.0.1:{port}", e.Message);
        AssertStillCounting(source);
    }

    /// <summary>
    /// A destination that takes part of the stream and then dies (its socket closed, as when the process is killed):
    /// the source, wherever it was (pre-copy or paused for stop-and-copy), resumes and keeps counting.
    /// </summary>
    [SkippableTheory]
    [InlineData("emulator", 16 * 1024)]
    [InlineData("kvm", 16 * 1024)]
    [InlineData("emulator", 0)]
    [InlineData("kvm", 0)]
    public void A_destination_that_dies_mid_stream_leaves_the_source_running_and_counting(string engine, int bytesBeforeDying)
    {
        using var source = new CounterRun(TestEngines.Create(engine), spin: TestEngines.Spin(engine));
        source.WaitForTick(3);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var dying = Task.Run(() =>
        {
            using var client = listener.AcceptSocket();
            var buffer = new byte[4096];
            for (int got = 0; got < bytesBeforeDying;)
            {
                int n = client.Receive(buffer);
                if (n == 0) break;
                got += n;
            }
            client.LingerState = new LingerOption(true, 0); // a reset, as a killed process's unread data gives
        });
        var e = Assert.Throws<MigrationException>(() =>
            source.Vm.MigrateTo("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, new MigrationOptions { Timeout = TimeSpan.FromSeconds(10) }));
        output.WriteLine(e.Message);
        dying.Wait();
        AssertStillCounting(source);
    }

    /// <summary>
    /// A destination that reads everything and never answers: the source's wait for it to confirm the pages (before
    /// the pause) times out. One that receives the whole stream properly but never acknowledges: the wait for the ack
    /// (the VM paused) times out. Either way the source goes on.
    /// </summary>
    [SkippableTheory]
    [InlineData("emulator", "reads and says nothing", 2, "did not confirm the pages sent within 2 s")]
    [InlineData("emulator", "receives but never acknowledges", 5, "did not acknowledge within 5 s")] // 5 s: the pages' sync must not time out on a loaded host
    [InlineData("kvm", "reads and says nothing", 2, "did not confirm the pages sent within 2 s")]
    [InlineData("kvm", "receives but never acknowledges", 5, "did not acknowledge within 5 s")]
    public void A_destination_that_never_answers_times_out_and_the_source_goes_on(string engine, string destination, int timeoutSeconds, string expected)
    {
        using var source = new CounterRun(TestEngines.Create(engine), spin: TestEngines.Spin(engine));
        source.WaitForTick(3);
        int port;
        Task silent;
        if (destination == "reads and says nothing")
        {
            var raw = new TcpListener(IPAddress.Loopback, 0);
            raw.Start();
            port = ((IPEndPoint)raw.LocalEndpoint).Port;
            silent = Task.Run(() =>
            {
                using (raw.Server)
                using (var client = raw.AcceptSocket())
                {
                    var buffer = new byte[65536];
                    while (client.Receive(buffer) > 0) { }
                }
            });
        }
        else
        {
            var incoming = IncomingMigration.Listen(new IPEndPoint(IPAddress.Loopback, 0));
            port = incoming.LocalEndpoint.Port;
            silent = Task.Run(() =>
            {
                using (incoming)
                using (incoming.Receive(TimeSpan.FromSeconds(30)))
                    Thread.Sleep(TimeSpan.FromSeconds(timeoutSeconds + 3)); // the connection open and silent past the source's timeout
            });
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<MigrationException>(() =>
            source.Vm.MigrateTo("127.0.0.1", port, new MigrationOptions { Timeout = TimeSpan.FromSeconds(timeoutSeconds) }));
        output.WriteLine($"{e.Message} after {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Contains(expected, e.Message);
        AssertStillCounting(source);
        silent.Wait(TimeSpan.FromSeconds(15));
    }

    /// <summary>A destination that refuses (here: the VM's disk is not on its storage) says why; the source goes on.</summary>
    [SkippableFact]
    public void A_refusing_destination_gives_its_reason_and_the_source_goes_on()
    {
        string disk = Path.Combine(Path.GetTempPath(), $"sharpvisor-migrate-disk-{Environment.ProcessId}.img");
        File.WriteAllBytes(disk, new byte[64 * 1024]);
        var config = new Sharpvisor.Vmm.Configuration.VmConfig
        {
            KernelPath = MigrationGuests.CounterPath, CommandLine = "ticks=0 spin=100000", MemoryBytes = 64UL << 20, TestDevices = true,
            Disks = [new Sharpvisor.Vmm.Configuration.DiskSpec(disk, ReadOnly: true)],
        };
        var console = new ScriptedConsole();
        using var vm = new Vm(config, TestEngines.Create("emulator"), console);
        var thread = new Thread(() => vm.Run()) { IsBackground = true };
        thread.Start();
        try
        {
            console.WaitFor("tick 3\n", 0, TimeSpan.FromSeconds(60));
            File.Delete(disk); // gone from the "shared" storage before the destination looks for it
            using var target = new MigrationTarget(TestEngines.Create("emulator"));
            var e = Assert.Throws<MigrationException>(() => vm.MigrateTo("127.0.0.1", target.Port, new MigrationOptions()));
            output.WriteLine(e.Message);
            Assert.Contains("refused", e.Message);
            Assert.Contains(disk, e.Message);
            target.WaitSettled(TimeSpan.FromSeconds(30));
            Assert.NotNull(target.Failure);
            Assert.Equal(VmState.Running, vm.State);
            int at = console.Output.Length;
            console.WaitFor("tick ", at, TimeSpan.FromSeconds(30));
        }
        finally
        {
            vm.Stop("done");
            thread.Join(TimeSpan.FromSeconds(30));
            File.Delete(disk);
        }
    }

    [SkippableTheory]
    [InlineData("emulator")]
    [InlineData("kvm")]
    public void A_paused_vm_whose_migration_fails_stays_paused(string engine)
    {
        using var source = new CounterRun(TestEngines.Create(engine), spin: TestEngines.Spin(engine));
        source.WaitForTick(2);
        source.Vm.Pause();
        Assert.Throws<MigrationException>(() => source.Vm.MigrateTo("127.0.0.1", FreePort(), new MigrationOptions()));
        Assert.Equal(VmState.Paused, source.Vm.State);
        source.Vm.Resume();
        AssertStillCounting(source);
    }

    private static void AssertStillCounting(CounterRun source)
    {
        Assert.Equal(VmState.Running, source.Vm.State);
        ulong last = CounterRun.Ticks(source.Console.Output).Last();
        source.WaitForTick(last + 3, 60);
        // Pause and resume work again: nothing of the migration is left behind.
        source.Vm.Pause();
        source.Vm.Resume();
        source.WaitForTick(last + 4, 60);
        source.Vm.Stop("done");
        source.Finish(TimeSpan.FromSeconds(30));
        CounterRun.AssertConsecutive(source.Console.Output);
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
