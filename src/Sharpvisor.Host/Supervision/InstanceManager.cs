using System.Collections.Concurrent;
using Sharpvisor.Host.Admission;
using Sharpvisor.Host.SerialConsole;
using Sharpvisor.Host.Events;
using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Operations;
using Sharpvisor.Host.Store;
using Sharpvisor.Machine.Storage;

namespace Sharpvisor.Host.Supervision;

/// <summary>
/// The daemon's VMs: their definitions (create, change, delete, with admission against the host's capacity) and
/// their lives (start, stop, pause, snapshots, migration: InstanceManager.*.cs), each VM in a VMM process of its own.
/// Actions on one VM are serialized; the store is written before an action is reported done, so a daemon killed at
/// any point finds the truth when it starts again (<see cref="RecoverAsync"/>).
/// </summary>
public sealed partial class InstanceManager : IDisposable
{
    private readonly IHostStore _store;
    private readonly IVmmLauncher _launcher;
    private readonly HostDaemonOptions _options;
    private readonly DiskRoots _diskRoots;
    private readonly ConcurrentDictionary<string, InstanceRuntime> _runtimes = new();
    private readonly SemaphoreSlim _admissionLock = new(1, 1); // create and start check capacity one at a time
    private readonly CancellationTokenSource _shutdown = new();

    public InstanceManager(HostDaemonOptions options, IHostStore store, IVmmLauncher launcher, HostEvents events)
    {
        _options = options;
        _store = store;
        _launcher = launcher;
        Events = events;
        Operations = new OperationRegistry(events);
        _diskRoots = new DiskRoots([options.Paths.DisksDirectory, .. options.DiskRoots], [Host.Storage.StorageCatalog.ImagesFolder(options.Paths)]);
    }

    public HostEvents Events { get; }
    public OperationRegistry Operations { get; }
    public HostDaemonOptions Options => _options;
    public IDiskPathPolicy DiskPolicy => _diskRoots;

    public IReadOnlyList<InstanceRecord> List() => _store.ListInstances();

    public InstanceRecord Get(string name) =>
        _store.FindInstance(name) ?? throw HostException.NotFound($"no instance named '{name}'");

    /// <summary>Resident memory and CPU time of the VM's VMM process, when one runs.</summary>
    public (ulong ResidentBytes, TimeSpan CpuTime)? Usage(string name) =>
        _runtimes.TryGetValue(name, out var runtime) && runtime.Process is { HasExited: false } process ? ProcessIdentity.Usage(process.Pid) : null;

    /// <summary>Defines a VM (it does not start it): validated, checked against capacity, stored.</summary>
    public async Task<InstanceRecord> CreateAsync(InstanceDefinition definition)
    {
        definition = PrepareNetworkNics(definition, except: null);
        Validate(definition);
        await _admissionLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_store.FindInstance(definition.Name) is not null) throw HostException.Conflict($"an instance named '{definition.Name}' already exists");
            CheckDisksFree(definition, except: null);
            Admit(definition, except: null);
            var now = DateTimeOffset.UtcNow;
            InstanceRecord record;
            try
            {
                record = _store.CreateInstance(new InstanceRecord { Definition = definition, CreatedAt = now, UpdatedAt = now, Location = _options.HostName });
            }
            catch (StoreConflictException e)
            {
                throw HostException.Conflict(e.Message);
            }
            PrepareFolder(definition.Name);
            Events.Publish("lifecycle", "instance-created", definition.Name, InstanceStatusNames.Format(record.Status), $"created {definition.Name}");
            return record;
        }
        finally
        {
            _admissionLock.Release();
        }
    }

    /// <summary>
    /// Changes a VM's definition. While its VMM runs only what needs no new VMM may change (description, restart
    /// policy, autostart); the rest is a 409. <paramref name="expectedRevision"/> (an If-Match) guards lost updates.
    /// </summary>
    public InstanceRecord Patch(string name, Func<InstanceDefinition, InstanceDefinition> change, long? expectedRevision)
    {
        using var lease = Runtime(name).Begin("a change");
        var record = Get(name);
        if (expectedRevision is { } expected && expected != record.Revision)
            throw new HostException(412, $"instance '{name}' is at revision {record.Revision}, not {expected} (If-Match)");
        var changed = change(record.Definition) with { Name = name, Version = InstanceDefinition.CurrentVersion };
        if (InstanceStatusNames.HasProcess(record.Status))
        {
            var live = changed with { Description = record.Definition.Description, RestartPolicy = record.Definition.RestartPolicy, Autostart = record.Definition.Autostart };
            if (!DefinitionsEqual(live, record.Definition))
                throw HostException.Conflict($"instance '{name}' is {InstanceStatusNames.Format(record.Status)}: only description, restart_policy and autostart change while it runs; stop it first");
        }
        changed = PrepareNetworkNics(changed, except: name);
        Validate(changed);
        _admissionLock.Wait();
        try
        {
            CheckDisksFree(changed, except: name);
            Admit(changed, except: name);
            var updated = Update(record, r => r with { Definition = changed });
            Events.Publish("lifecycle", "instance-updated", name, InstanceStatusNames.Format(updated.Status), $"changed {name}");
            return updated;
        }
        finally
        {
            _admissionLock.Release();
        }
    }

    /// <summary>Removes a stopped VM, its folder and its snapshots.</summary>
    public void Delete(string name)
    {
        var runtime = Runtime(name);
        using var lease = runtime.Begin("a delete");
        var record = Get(name);
        if (InstanceStatusNames.HasProcess(record.Status))
            throw HostException.Conflict($"instance '{name}' is {InstanceStatusNames.Format(record.Status)}; stop it before deleting it");
        try { InstanceDiskLayers.FoldBack(_options.Paths, record.Definition); }
        catch (IOException e) { throw new HostException(500, $"instance '{name}' was kept: its disks' overlays could not be written back ({e.Message})"); }
        _store.DeleteInstance(name, record.Revision);
        RemoveNetworkTaps(record.Definition);
        DeleteFolder(name);
        _runtimes.TryRemove(name, out _);
        Events.Publish("lifecycle", "instance-deleted", name, null, $"deleted {name}");
    }

    /// <summary>The host's capacity and what its VMs have been given of it.</summary>
    public (HostCapacity Capacity, Allocation Allocated) Allocations() =>
        (_options.Capacity, _store.ListInstances().Aggregate(default(Allocation), (sum, r) => sum + AllocationOf(r.Definition)));

    private void Validate(InstanceDefinition definition)
    {
        try { definition.Validated(_diskRoots); }
        catch (InstanceDefinitionException e) { throw new HostException(400, e.Message, e.Field); }
    }

    // Every defined VM holds its allocation, running or not, as in Nova: starting it later must not find the room taken.
    private void Admit(InstanceDefinition definition, string? except)
    {
        var used = _store.ListInstances().Where(r => r.Name != except).Aggregate(default(Allocation), (sum, r) => sum + AllocationOf(r.Definition));
        if (AdmissionPolicy.Refusal(_options.Capacity, used, AllocationOf(definition)) is { } refusal)
            throw HostException.Conflict($"instance '{definition.Name}' does not fit on this host: {refusal}");
    }

    // A read-write disk belongs to one VM; read-only ones may be shared.
    private void CheckDisksFree(InstanceDefinition definition, string? except)
    {
        foreach (var other in _store.ListInstances().Where(r => r.Name != except))
            foreach (var disk in definition.Disks)
                if (other.Definition.Disks.FirstOrDefault(d => Path.GetFullPath(d.Path) == Path.GetFullPath(disk.Path)) is { } taken && !(disk.ReadOnly && taken.ReadOnly))
                    throw HostException.Conflict($"disk {disk.Path} is already given to instance '{other.Name}'");
    }

    private static Allocation AllocationOf(InstanceDefinition definition) =>
        new(definition.VcpuCount, definition.MemoryBytes, definition.Disks.Aggregate(0UL, (sum, d) => sum + DiskSize(d.Path)));

    private static ulong DiskSize(string path)
    {
        try
        {
            using var disk = BlockBackendOpener.Open(path, readOnly: true);
            return disk.VirtualSize;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or FormatException)
        {
            return File.Exists(path) ? (ulong)new FileInfo(path).Length : 0;
        }
    }

    private static bool DefinitionsEqual(InstanceDefinition a, InstanceDefinition b) =>
        a with { Disks = [], Networks = [], NetworkNics = [], Numa = [], Version = 0 } == b with { Disks = [], Networks = [], NetworkNics = [], Numa = [], Version = 0 }
        && a.Disks.SequenceEqual(b.Disks) && a.Networks.SequenceEqual(b.Networks) && a.NetworkNics.SequenceEqual(b.NetworkNics) && a.Numa.SequenceEqual(b.Numa);

    internal InstanceRuntime Runtime(string name) =>
        _runtimes.GetOrAdd(name, n => new InstanceRuntime(n, new ConsoleLog(_options.Paths.ConsoleLog(n))));

    /// <summary>Writes a change of the record, re-reading and re-applying it if something else wrote in between.</summary>
    private InstanceRecord Update(InstanceRecord record, Func<InstanceRecord, InstanceRecord> change)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return _store.UpdateInstance(change(record) with { UpdatedAt = DateTimeOffset.UtcNow }, record.Revision);
            }
            catch (StoreConflictException) when (attempt < 10)
            {
                record = Get(record.Name);
            }
        }
    }

    private InstanceRecord Update(string name, Func<InstanceRecord, InstanceRecord> change) => Update(Get(name), change);

    private void PrepareFolder(string name)
    {
        var paths = _options.Paths;
        Directory.CreateDirectory(paths.InstanceDirectory(name));
        Directory.CreateDirectory(paths.SnapshotsDirectory(name));
    }

    private void DeleteFolder(string name)
    {
        string folder = _options.Paths.InstanceDirectory(name);
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    public void Dispose()
    {
        _shutdown.Cancel();
        foreach (var runtime in _runtimes.Values) runtime.Console?.Dispose();
    }
}
