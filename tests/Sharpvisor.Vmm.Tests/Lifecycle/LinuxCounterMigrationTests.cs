using System.Net;
using Sharpvisor.Engines.Emulator;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Migration;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>
/// One boot of Debian's kernel on the emulator running <see cref="LinuxCounterWorkload"/>, with the source VMM's
/// migration socket in one network namespace and the destination's in another, joined by a veth pair. First the
/// destination is killed in the middle of the first round (its connection is torn down, as a killed process's
/// would be): the migration fails and the source runs on, counting. Then the VM migrates for real: the destination
/// goes on counting from the next value, and the console stream (source, then destination) and the disk count
/// 1..N with no gap and no repeat; the file system is clean.
/// </summary>
public sealed class LinuxCounterMigrationTests(ITestOutputHelper output) : IDisposable
{
    private const long KillAfterBytes = 8L << 20;
    private readonly string _root = Directory.CreateTempSubdirectory("sharpvisor-linux-counter-migration-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [LinuxCounterRootFact]
    public async Task A_killed_destination_leaves_the_source_counting_and_a_migration_between_namespaces_continues_the_count()
    {
        var timeout = LinuxCounterWorkload.CommandTimeout;
        using var namespaces = new LinuxCounterNamespaces();
        var workload = new LinuxCounterWorkload(_root, output);
        workload.CreateDisk();
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        var destinationAddress = IPAddress.Parse(LinuxCounterNamespaces.DestinationAddress);

        var source = new ScriptedConsole();
        var destination = new ScriptedConsole();
        using var vm = new Vm(workload.Config(image), new EmulatorEngine(), source);
        var run = Task.Run(vm.Run);
        Vm? arrived = null;
        Task<VmRunResult>? arrivedRun = null;
        try
        {
            int at = source.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, LinuxCounterWorkload.BootTimeout);
            source.WaitFor("# ", at, timeout);
            source.Type(LinuxCounterWorkload.StartCommand);
            LinuxCounterWorkload.WaitForCount(source, 3, timeout);

            // 1. The destination dies in the middle of the first round.
            using (var listener = LinuxCounterNamespaces.RunIn(namespaces.Destination, () => IncomingMigration.Listen(new IPEndPoint(destinationAddress, 0))))
            using (var kill = new CancellationTokenSource())
            {
                int port = listener.LocalEndpoint.Port;
                var receiving = Task.Factory.StartNew(() => Record.Exception(() => listener.Receive(timeout, kill.Token)),
                    CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                long sentAtKill = 0;
                var progress = new InlineProgress<MigrationProgress>(p =>
                {
                    if (p.BytesSent < KillAfterBytes || kill.IsCancellationRequested) return;
                    sentAtKill = p.BytesSent;
                    kill.Cancel(); // closes the destination's connection with data unread: a reset, as when its process dies
                });
                var failure = LinuxCounterNamespaces.RunIn(namespaces.Source, () => Record.Exception(() =>
                    vm.MigrateTo(LinuxCounterNamespaces.DestinationAddress, port, new MigrationOptions(), progress)));
                output.WriteLine($"destination killed after {sentAtKill >> 20} MiB sent; the source says: {failure?.Message}");
                Assert.IsType<MigrationException>(failure);
                Assert.True(sentAtKill >= KillAfterBytes, "the migration ended before the destination was killed");
                Assert.Equal(VmState.Running, vm.State);
                Assert.NotNull(await receiving.WaitAsync(timeout));
            }
            long lastAfterKill = LinuxCounterWorkload.Counts(source.Output).Last();
            LinuxCounterWorkload.WaitForCount(source, lastAfterKill + 3, timeout);
            Assert.Equal(VmState.Running, vm.State);

            // 2. The migration for real.
            using var started = new ManualResetEventSlim();
            using var target = LinuxCounterNamespaces.RunIn(namespaces.Destination, () => IncomingMigration.Listen(new IPEndPoint(destinationAddress, 0)));
            var received = Task.Factory.StartNew(() =>
            {
                var incoming = target.Accept(timeout);
                arrived = new Vm(incoming.Config, new EmulatorEngine(), destination) { Incoming = incoming };
                arrived.Started += _ => started.Set();
                arrivedRun = Task.Run(() =>
                {
                    using (incoming) return arrived.Run();
                });
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var summary = LinuxCounterNamespaces.RunIn(namespaces.Source, () =>
                vm.MigrateTo(LinuxCounterNamespaces.DestinationAddress, target.LocalEndpoint.Port, new MigrationOptions()));
            output.WriteLine($"migrated: total {summary.Total.TotalMilliseconds:0} ms, downtime {summary.Downtime.TotalMilliseconds:0} ms, " +
                             $"{summary.Rounds} rounds, {summary.BytesSent >> 20} MiB, {summary.PagesSent} pages ({summary.ZeroPages} zero)");
            var sourceResult = await run.WaitAsync(timeout);
            Assert.Equal(VmOutcome.Migrated, sourceResult.Outcome);
            Assert.Equal($"migrated to {LinuxCounterNamespaces.DestinationAddress}:{target.LocalEndpoint.Port}", sourceResult.Message);
            await received.WaitAsync(timeout);
            Assert.True(started.Wait(timeout), "the destination did not start the VM");

            long lastOnSource = LinuxCounterWorkload.Counts(source.Output).Last();
            LinuxCounterWorkload.WaitForCount(destination, lastOnSource + 5, timeout);
            destination.Type("\n"); // ends the loop
            at = destination.WaitFor("stopped at ", 0, timeout);
            at = destination.WaitFor("# ", at, timeout);
            long lastCount = LinuxCounterWorkload.Counts(destination.Output).Last();
            Assert.Contains($"stopped at {lastCount}\r\n", destination.Output);
            string tail = destination.Execute("umount /mnt && echo unmounted", 1, ref at, timeout);
            Assert.Contains("unmounted", ScriptedConsole.Lines(tail));
            destination.Type("poweroff -f\n");
            Assert.Equal(VmOutcome.PoweredOff, (await arrivedRun!.WaitAsync(timeout)).Outcome);
        }
        finally
        {
            vm.Stop("test finished");
            await run.WaitAsync(timeout);
            arrived?.Stop("test finished");
            if (arrivedRun is not null) await arrivedRun.WaitAsync(timeout);
            arrived?.Dispose();
            output.WriteLine("--- source console ---\n" + source.Output);
            output.WriteLine("--- destination console ---\n" + destination.Output);
        }

        var counts = LinuxCounterWorkload.Counts(source.Output + destination.Output);
        LinuxCounterWorkload.AssertConsecutive(counts, "console on the source, then on the destination");
        workload.AssertClean(workload.DiskPath);
        var onDisk = workload.ReadCounter(workload.DiskPath, "after-migration");
        LinuxCounterWorkload.AssertConsecutive(onDisk, "disk after the migration");
        Assert.Equal(counts.Count, onDisk.Count);
        output.WriteLine($"{counts.Count} ticks on the console and on the disk");
    }
}
