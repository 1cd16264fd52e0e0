using System.Net;
using System.Net.Sockets;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Migration;

/// <summary>
/// `migrate` through the control socket while the VMM shuts its control server down, as `sharpvisor run` does right
/// after the VM ends (a completed migration ends it): the client that asked must still get its answer (it once got
/// "closed the control connection without a reply", the summary lost with the exiting process).
/// </summary>
public sealed class ControlMigrationTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-control-migrate-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [SkippableFact]
    public async Task The_migrate_client_gets_the_summary_of_a_completed_migration()
    {
        using var target = new MigrationTarget(TestEngines.Create("emulator"));
        using var source = new CounterRun(TestEngines.Create("emulator"), spin: TestEngines.Spin("emulator"));
        string socket = Path.Combine(_directory, "control.sock");
        var server = new VmControlServer(source.Vm, socket);
        source.WaitForTick(3);
        var client = Task.Run(() => VmControlServer.SendStreaming(socket, $"migrate 127.0.0.1:{target.Port}", _ => { }, TimeSpan.FromSeconds(60)));
        Assert.Equal(VmOutcome.Migrated, source.Finish(TimeSpan.FromSeconds(60)).Outcome);
        server.Dispose();
        string reply = await client;
        output.WriteLine(reply);
        Assert.StartsWith("ok ", reply);
        var summary = MigrationSummary.FromJson(reply[3..]);
        Assert.Equal($"127.0.0.1:{target.Port}", summary.Destination);
        Assert.True(summary.Downtime >= summary.Pausing + summary.LastPages + summary.State);
        target.WaitSettled(TimeSpan.FromSeconds(30));
        Assert.Null(target.Failure);
    }

    /// <summary>
    /// Disposing the server while a migration is still waiting for a silent destination: Dispose waits for it (here
    /// until its 2 s timeout), the client gets the error, and only then are connections closed.
    /// </summary>
    [SkippableFact]
    public async Task Disposing_the_control_server_lets_a_running_migrate_answer_first()
    {
        using var source = new CounterRun(TestEngines.Create("emulator"), spin: TestEngines.Spin("emulator"));
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var silent = Task.Run(() =>
        {
            using var peer = listener.AcceptSocket();
            var buffer = new byte[65536];
            try { while (peer.Receive(buffer) > 0) { } }
            catch (SocketException) { }
        });
        string socket = Path.Combine(_directory, "control.sock");
        var server = new VmControlServer(source.Vm, socket);
        source.WaitForTick(3);
        using var started = new ManualResetEventSlim();
        var client = Task.Run(() => VmControlServer.SendStreaming(socket,
            $"migrate 127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port} timeout-s=2", _ => started.Set(), TimeSpan.FromSeconds(60)));
        Assert.True(WaitHandle.WaitAny([started.WaitHandle, ((IAsyncResult)client).AsyncWaitHandle], TimeSpan.FromSeconds(30)) == 0,
            $"no progress line; the reply: {(client.IsCompleted ? await client : "none")}");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        server.Dispose();
        output.WriteLine($"Dispose took {clock.ElapsedMilliseconds} ms");
        string reply = await client;
        output.WriteLine(reply);
        Assert.StartsWith("error ", reply);
        Assert.Contains("within 2 s", reply);
        source.WaitForTick(CounterRun.Ticks(source.Console.Output).Last() + 2);
    }
}
