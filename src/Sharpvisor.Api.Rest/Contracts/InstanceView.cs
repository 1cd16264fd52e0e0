using Sharpvisor.Host.Instances;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Api.Rest.Contracts;

/// <summary>A VM as GET /1.0/instances and /1.0/instances/{name} show it: its definition, its state, and what its VMM uses now.</summary>
public sealed record InstanceView(
    string Name, string Description, string Status, string StatusReason, int Vcpus, string Topology, string Memory, ulong MemoryBytes,
    string Engine, string? Kernel, string? Initrd, string? Cmdline, IReadOnlyList<DiskRequest> Disks, IReadOnlyList<NicRequest> Nics,
    bool Balloon, string BalloonMin, bool Ksm, int CpuWeight, string? CpuPin, IReadOnlyList<string> Numa, string RestartPolicy, bool Autostart, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, int? Pid, string Location,
    long Revision, ulong? ResidentMemoryBytes, double? CpuSeconds)
{
    public static InstanceView From(InstanceRecord record, (ulong ResidentBytes, TimeSpan CpuTime)? usage)
    {
        var d = record.Definition;
        var t = d.Topology;
        return new InstanceView(d.Name, d.Description, InstanceStatusNames.Format(record.Status), record.StatusReason, d.VcpuCount,
            $"sockets={t.Sockets},cores={t.Cores},threads={t.Threads}", MemorySize.Format(d.MemoryBytes), d.MemoryBytes, d.Engine,
            d.KernelPath, d.InitrdPath, d.CommandLine, d.Disks.Select(x => new DiskRequest(x.Path, x.ReadOnly, x.Format)).ToArray(),
            [.. d.Networks.Select(n => new NicRequest(n.Tap, n.MacAddress)), .. d.NetworkNics.Select(n => new NicRequest(Mac: n.Mac, Network: n.Network))], d.Balloon,
            MemorySize.Format(d.BalloonFloorBytes), d.Ksm, d.CpuWeight, d.CpuPin, d.Numa, RestartPolicyNames.Format(d.RestartPolicy),
            d.Autostart, record.CreatedAt, record.StartedAt, record.Process?.Pid, record.Location, record.Revision,
            usage?.ResidentBytes, usage?.CpuTime.TotalSeconds);
    }
}

/// <summary>The body of PUT /1.0/instances/{name}/state.</summary>
public sealed record StateRequest(string Action, bool Force = false, double? Timeout = null);

/// <summary>The body of POST /1.0/instances/{name}/snapshots.</summary>
public sealed record SnapshotRequest(string Name);

public sealed record SnapshotView(string Name, DateTimeOffset CreatedAt, bool Complete);
