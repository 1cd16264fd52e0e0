using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Networks;

namespace Sharpvisor.Host.Store;

/// <summary>
/// Where the daemon keeps what must outlive it: VM definitions and states, their snapshots, and the virtual networks. SQLite on one host
/// (<see cref="SqliteHostStore"/>); a cluster's etcd store implements the same. Every write is atomic, and a write that
/// names a revision fails with <see cref="StoreConflictException"/> when someone changed the record since.
/// </summary>
public interface IHostStore : IDisposable
{
    IReadOnlyList<InstanceRecord> ListInstances();
    InstanceRecord? FindInstance(string name);
    /// <summary>Adds a VM; its revision becomes 1. A VM of that name exists: <see cref="StoreConflictException"/>.</summary>
    InstanceRecord CreateInstance(InstanceRecord record);
    /// <summary>Replaces the VM if its revision is still <paramref name="expectedRevision"/>; returns the stored record (revision + 1).</summary>
    InstanceRecord UpdateInstance(InstanceRecord record, long expectedRevision);
    /// <summary>Removes the VM and its snapshot records if its revision is still <paramref name="expectedRevision"/>.</summary>
    void DeleteInstance(string name, long expectedRevision);

    IReadOnlyList<SnapshotRecord> ListSnapshots(string instance);
    /// <summary>Adds a snapshot record; one of that name exists: <see cref="StoreConflictException"/>.</summary>
    void CreateSnapshot(SnapshotRecord snapshot);
    void UpdateSnapshot(SnapshotRecord snapshot);
    void DeleteSnapshot(string instance, string name);

    IReadOnlyList<NetworkDefinition> ListNetworks();
    NetworkDefinition? FindNetwork(string name);
    /// <summary>Adds a network; one of that name exists: <see cref="StoreConflictException"/>.</summary>
    void CreateNetwork(NetworkDefinition network);
    void DeleteNetwork(string name);
}

/// <summary>A snapshot of a VM: a folder the VMM wrote (memory, vCPUs, devices). <see cref="Complete"/> is false while it is being written.</summary>
public sealed record SnapshotRecord(string Instance, string Name, string Directory, DateTimeOffset CreatedAt, bool Complete, bool Stateful = true);

/// <summary>A write lost a race: the record changed (or appeared, or went) since it was read.</summary>
public sealed class StoreConflictException(string message) : Exception(message);
