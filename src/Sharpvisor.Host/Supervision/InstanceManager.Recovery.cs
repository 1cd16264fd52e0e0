using Sharpvisor.Host.Instances;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Host.Supervision;

public sealed partial class InstanceManager
{
    /// <summary>
    /// Run once as the daemon starts: adopts the VMMs that outlived the previous daemon (they keep running), records
    /// the end of those that did not (and applies their restart policy), removes what a crash left half made
    /// (snapshots never completed, folders of deleted VMs), then starts the VMs marked autostart.
    /// </summary>
    public async Task RecoverAsync()
    {
        _options.Paths.CreateLayout();
        var records = _store.ListInstances();
        foreach (var record in records)
        {
            var runtime = Runtime(record.Name);
            using var lease = await runtime.BeginWhenFreeAsync("recovery").ConfigureAwait(false);
            if (InstanceStatusNames.HasProcess(record.Status)) await AdoptAsync(runtime, record).ConfigureAwait(false);
            RemoveIncompleteSnapshots(record.Name);
        }
        var known = records.Select(r => r.Name).ToHashSet();
        foreach (var folder in Directory.GetDirectories(_options.Paths.InstancesDirectory))
            if (!known.Contains(Path.GetFileName(folder))) Directory.Delete(folder, recursive: true); // a delete cut short
        foreach (var record in _store.ListInstances().Where(r => r.Definition.Autostart && r.Status == InstanceStatus.Stopped))
        {
            try { Start(record.Name); }
            catch (HostException e) { Events.Publish("lifecycle", "instance-autostart-failed", record.Name, "stopped", e.Message); }
        }
    }

    private async Task AdoptAsync(InstanceRuntime runtime, InstanceRecord record)
    {
        string name = record.Name;
        if (record.Process is { } info && _launcher.Adopt(name, info) is { } process)
        {
            runtime.Process = process;
            runtime.Ended = WatchAsync(runtime, process);
            runtime.Console = await ConnectConsoleAsync(runtime, process, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            string? state = await VmmControl.WaitForStatusAsync(_options.Paths.ControlSocket(name), TimeSpan.FromSeconds(10), () => !process.HasExited).ConfigureAwait(false);
            var status = state?.StartsWith("paused", StringComparison.Ordinal) == true ? InstanceStatus.Paused : InstanceStatus.Running;
            Update(name, r => r.Process?.Pid == info.Pid ? r with { Status = status } : r);
            Events.Publish("lifecycle", "instance-adopted", name, InstanceStatusNames.Format(status), $"adopted VMM {info.Pid} of {name}");
            return;
        }
        if (record.Process is not { } ended)
        {
            Update(record, r => r with { Status = InstanceStatus.Crashed, StatusReason = "the daemon ended while the VM's VMM was being launched" });
            return;
        }
        // It ended while no daemon watched: a watcher of the gone process records how, as if it had seen it go.
        await WatchAsync(runtime, VmmProcess.Gone(ended)).ConfigureAwait(false);
    }

    private void RemoveIncompleteSnapshots(string name)
    {
        foreach (var snapshot in _store.ListSnapshots(name).Where(s => !s.Complete))
        {
            bool whole;
            try
            {
                SnapshotStore.Load(snapshot.Directory, verifyMemory: false);
                whole = true;
            }
            catch (Exception e) when (e is SnapshotException or IOException)
            {
                whole = false;
            }
            if (whole) _store.UpdateSnapshot(snapshot with { Complete = true }); // written, but the daemon died before it recorded so
            else
            {
                _store.DeleteSnapshot(name, snapshot.Name);
                DeleteDirectory(snapshot.Directory);
                Events.Publish("lifecycle", "instance-snapshot-deleted", name, null, $"removed snapshot {name}/{snapshot.Name}, cut short by a crash");
            }
        }
    }
}
