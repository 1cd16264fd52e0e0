using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Operations;
using Sharpvisor.Host.Store;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Host.Supervision;

public sealed partial class InstanceManager
{
    public IReadOnlyList<SnapshotRecord> ListSnapshots(string name)
    {
        Get(name);
        return _store.ListSnapshots(name);
    }

    public SnapshotRecord GetSnapshot(string name, string snapshot) =>
        ListSnapshots(name).FirstOrDefault(s => s.Name == snapshot) ?? throw HostException.NotFound($"instance '{name}' has no snapshot named '{snapshot}'");

    /// <summary>
    /// Saves a running or paused VM to a snapshot (memory, vCPUs, devices); it goes on as it was. The store records the
    /// snapshot before the VMM writes it and marks it complete after, so one cut short by a crash is found and removed.
    /// </summary>
    public Operation CreateSnapshot(string name, string snapshot)
    {
        if (InstanceDefinition.NameProblem(snapshot) is { } problem) throw HostException.BadRequest($"snapshot {problem}", "name");
        return StartLeased(name, "a snapshot", $"snapshot {name}/{snapshot}", _ =>
        {
            var record = Get(name);
            if (record.Status is not (InstanceStatus.Running or InstanceStatus.Paused))
                throw HostException.Conflict($"instance '{name}' is {InstanceStatusNames.Format(record.Status)}; a snapshot needs it running or paused");
            string directory = _options.Paths.SnapshotDirectory(name, snapshot);
            try { _store.CreateSnapshot(new SnapshotRecord(name, snapshot, directory, DateTimeOffset.UtcNow, Complete: false)); }
            catch (StoreConflictException e) { throw HostException.Conflict(e.Message); }
            return async _ =>
            {
                try
                {
                    await VmmControl.SendAsync(_options.Paths.ControlSocket(name), $"snapshot {directory}", TimeSpan.FromMinutes(10)).ConfigureAwait(false);
                }
                catch (VmmControlException e)
                {
                    _store.DeleteSnapshot(name, snapshot);
                    DeleteDirectory(directory);
                    throw new HostException(500, $"snapshot {name}/{snapshot} failed: {e.Message}");
                }
                _store.UpdateSnapshot(GetSnapshot(name, snapshot) with { Complete = true });
                Events.Publish("lifecycle", "instance-snapshot-created", name, null, $"snapshot {name}/{snapshot}");
            };
        });
    }

    /// <summary>Brings the VM back to a snapshot: its current VMM (if any) is stopped and a new one resumes the snapshot.</summary>
    public Operation RestoreSnapshot(string name, string snapshot) => StartLeased(name, "a restore", $"restore {name}/{snapshot}", runtime =>
    {
        var saved = GetSnapshot(name, snapshot);
        if (!saved.Complete) throw HostException.Conflict($"snapshot {name}/{snapshot} is still being written");
        return async _ =>
        {
            // Its disks too, before the VM now running is stopped: a restore that cannot happen leaves it as it is.
            try { SnapshotDiskLayers.CheckFrozen(SnapshotStore.Load(saved.Directory, verifyMemory: true)); }
            catch (Exception e) when (e is SnapshotException or IOException)
            {
                throw new HostException(422, $"snapshot {name}/{snapshot} cannot be restored: {e.Message}");
            }
            await StopAsync(runtime, force: true, TimeSpan.Zero, $"a restore of snapshot {snapshot}").ConfigureAwait(false);
            var record = Get(name);
            await LaunchAsync(runtime, record, VmmCommandLine.Restore(_options, record.Definition, saved.Directory),
                [saved.Directory], userAction: true, "instance-restored").ConfigureAwait(false);
        };
    });

    /// <summary>Deletes a snapshot, its disk layers merged into the images above them first (by the VMM if it runs).</summary>
    public async Task DeleteSnapshotAsync(string name, string snapshot)
    {
        using var lease = Runtime(name).Begin("a snapshot delete");
        var saved = GetSnapshot(name, snapshot);
        string? vmm = Get(name).Status is InstanceStatus.Running or InstanceStatus.Paused ? _options.Paths.ControlSocket(name) : null;
        try { await Task.Run(() => InstanceDiskLayers.Release(saved.Directory, vmm)).ConfigureAwait(false); }
        catch (Exception e) when (e is VmmControlException or IOException or UnauthorizedAccessException)
        {
            throw new HostException(500, $"snapshot {name}/{snapshot} was kept: its disk layer could not be merged ({e.Message})");
        }
        _store.DeleteSnapshot(name, snapshot);
        DeleteDirectory(saved.Directory);
        Events.Publish("lifecycle", "instance-snapshot-deleted", name, null, $"deleted snapshot {name}/{snapshot}");
    }

    private static void DeleteDirectory(string directory)
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }
}
