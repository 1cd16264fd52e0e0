using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Operations;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Host.Supervision;

/// <summary>Where a migrating VM's memory goes: the destination daemon's VMM listening on a port of that host.</summary>
public sealed record MigrationTarget(string Host, int Port, string Description);

public sealed partial class InstanceManager
{
    private static readonly TimeSpan IncomingTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Live-migrates a running VM to another host's daemon: <paramref name="prepareTarget"/> asks that daemon to define
    /// the VM and start a VMM waiting for it; this VMM then streams the VM there (pre-copy, the existing stream). Once
    /// the destination runs it, the VM is removed here; if the migration fails the VM goes on here.
    /// </summary>
    public Operation Migrate(string name, Func<InstanceDefinition, Task<MigrationTarget>> prepareTarget, string? options) =>
        StartLeased(name, "a migration", $"migrate {name}", runtime =>
        {
            var record = Get(name);
            if (record.Status is not (InstanceStatus.Running or InstanceStatus.Paused))
                throw HostException.Conflict($"instance '{name}' is {InstanceStatusNames.Format(record.Status)}; a live migration needs it running or paused");
            return operation => MigrateAsync(runtime, record, prepareTarget, options, operation);
        });

    private async Task MigrateAsync(InstanceRuntime runtime, InstanceRecord record, Func<InstanceDefinition, Task<MigrationTarget>> prepareTarget,
        string? options, Operation operation)
    {
        string name = record.Name;
        var target = await prepareTarget(record.Definition).ConfigureAwait(false);
        var before = record.Status;
        Update(name, r => r with { Status = InstanceStatus.Migrating, StatusReason = $"to {target.Description}" });
        Events.Publish("lifecycle", "instance-migrating", name, "migrating", $"migrating {name} to {target.Description}");
        runtime.EndRequestedBy = $"a migration to {target.Description}";
        string reply = await Task.Run(() => VmControlServer.SendStreaming(_options.Paths.ControlSocket(name),
            $"migrate {target.Host}:{target.Port}{(options is null ? "" : " " + options)}",
            progress => operation.Report(new Dictionary<string, object?> { ["progress"] = JsonDocument.Parse(progress).RootElement.Clone() }),
            TimeSpan.FromMinutes(5))).ConfigureAwait(false);
        if (!reply.StartsWith("ok", StringComparison.Ordinal))
        {
            runtime.EndRequestedBy = null;
            Update(name, r => r.Status == InstanceStatus.Migrating ? r with { Status = before, StatusReason = "" } : r);
            throw new HostException(500, $"the migration of {name} failed; it goes on here: {(reply.StartsWith("error ", StringComparison.Ordinal) ? reply[6..] : reply)}");
        }
        operation.Report(new Dictionary<string, object?> { ["summary"] = JsonDocument.Parse(reply[2..].Trim()).RootElement.Clone(), ["target"] = target.Description });
        await runtime.Ended.ConfigureAwait(false);
        var ended = Get(name);
        _store.DeleteInstance(name, ended.Revision);
        DeleteFolder(name);
        _runtimes.TryRemove(name, out _);
        Events.Publish("lifecycle", "instance-migrated", name, null, $"{name} moved to {target.Description}");
    }

    /// <summary>
    /// The destination's half: defines the VM (admission as for a create) and starts a VMM waiting for it on a free
    /// port, which is returned once it listens. The VM runs here when the stream has arrived; if it never does, the
    /// definition is removed again (the VM is still at the source).
    /// </summary>
    public async Task<int> ReceiveMigrationAsync(InstanceDefinition definition)
    {
        var record = await CreateAsync(definition with { Autostart = false }).ConfigureAwait(false);
        var runtime = Runtime(definition.Name);
        var lease = runtime.Begin("an incoming migration");
        try
        {
            int port = FreePort();
            var process = await LaunchProcessAsync(runtime, record, VmmCommandLine.Incoming(_options, definition, $"0.0.0.0:{port}"),
                [], userAction: true).ConfigureAwait(false);
            Update(definition.Name, r => r with { Status = InstanceStatus.Migrating, StatusReason = "arriving" });
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!IsListening(port) && !process.HasExited && DateTime.UtcNow < deadline) await Task.Delay(50).ConfigureAwait(false);
            if (!IsListening(port)) throw new HostException(500, $"the VMM for the incoming {definition.Name} does not listen on port {port}");
            Operations.Start($"receive {definition.Name}", definition.Name, async _ =>
            {
                using (lease)
                {
                    try
                    {
                        await AwaitRunningAsync(runtime, process, IncomingTimeout, "instance-arrived").ConfigureAwait(false);
                    }
                    catch (HostException)
                    {
                        RemoveFailedArrival(definition.Name);
                        throw;
                    }
                }
            });
            return port;
        }
        catch
        {
            if (runtime.Process is { } started) { started.Kill(); await runtime.Ended.ConfigureAwait(false); }
            RemoveFailedArrival(definition.Name);
            lease.Dispose();
            throw;
        }
    }

    private void RemoveFailedArrival(string name)
    {
        if (_store.FindInstance(name) is not { } record || InstanceStatusNames.HasProcess(record.Status)) return;
        _store.DeleteInstance(name, record.Revision);
        DeleteFolder(name);
        Events.Publish("lifecycle", "instance-deleted", name, null, $"removed {name}: its migration did not arrive ({record.StatusReason})");
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Any, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    // From /proc/net/tcp: a listening socket shows there without a connection that the VMM would take for the migration.
    private static bool IsListening(int port) =>
        IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners().Any(e => e.Port == port);
}
