using Sharpvisor.Host;
using Sharpvisor.Host.Instances;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Api.Rest.Contracts;

/// <summary>
/// The body of POST /1.0/instances (a new VM; fields left out take their defaults) and of PATCH /1.0/instances/{name}
/// (only the fields given change). Sizes are strings with a unit, as on the command line: "512M", "2G".
/// </summary>
public sealed record InstanceRequest
{
    public string? Name { get; init; }
    public string? Description { get; init; }
    public int? Vcpus { get; init; }
    /// <summary>sockets=S,cores=C,threads=T (instead of vcpus).</summary>
    public string? Topology { get; init; }
    public string? Memory { get; init; }
    public string? Engine { get; init; }
    public string? Kernel { get; init; }
    public string? Initrd { get; init; }
    public string? Cmdline { get; init; }
    public IReadOnlyList<DiskRequest>? Disks { get; init; }
    /// <summary>On create only: an image whose new qcow2 overlay becomes the VM's first disk.</summary>
    public string? Image { get; init; }
    public IReadOnlyList<NicRequest>? Nics { get; init; }
    public bool? Balloon { get; init; }
    /// <summary>The least memory automatic ballooning leaves the guest ("256M"; "" for half its memory).</summary>
    public string? BalloonMin { get; init; }
    public bool? Ksm { get; init; }
    /// <summary>Share of contended CPU time, 1-10000 (100 by default).</summary>
    public int? CpuWeight { get; init; }
    /// <summary>Host CPUs the VM runs on, as "0-1,3"; "" for any.</summary>
    public string? CpuPin { get; init; }
    /// <summary>Guest NUMA nodes, one "nodeN:cpus=LIST,mem=SIZE" each in order; [] for one node.</summary>
    public IReadOnlyList<string>? Numa { get; init; }
    public string? RestartPolicy { get; init; }
    public bool? Autostart { get; init; }

    /// <summary>A new definition: this request over the defaults.</summary>
    public InstanceDefinition ToDefinition() => ApplyTo(new InstanceDefinition { Name = Name ?? throw HostException.BadRequest("name is missing", "name") });

    /// <summary>The given fields applied to <paramref name="definition"/>; a field that cannot be read is a 400 naming it.</summary>
    public InstanceDefinition ApplyTo(InstanceDefinition definition)
    {
        if (Vcpus is not null && Topology is not null) throw HostException.BadRequest("give vcpus or topology, not both", "topology");
        var d = definition;
        if (Description is not null) d = d with { Description = Description };
        if (Vcpus is { } vcpus)
        {
            if (vcpus < 1 || vcpus > CpuTopology.MaxVcpus) throw HostException.BadRequest($"vcpus must be 1 to {CpuTopology.MaxVcpus}, not {vcpus}", "vcpus");
            d = d with { Topology = CpuTopology.Flat(vcpus) };
        }
        if (Topology is not null) d = d with { Topology = Field("topology", () => CpuTopology.Parse(Topology)) };
        if (Memory is not null) d = d with { MemoryBytes = Field("memory", () => MemorySize.Parse(Memory)) };
        if (Engine is not null) d = d with { Engine = Engine };
        if (Kernel is not null) d = d with { KernelPath = Kernel.Length == 0 ? null : Kernel };
        if (Initrd is not null) d = d with { InitrdPath = Initrd.Length == 0 ? null : Initrd };
        if (Cmdline is not null) d = d with { CommandLine = Cmdline };
        if (Disks is not null)
            d = d with { Disks = Disks.Select((disk, i) => disk.ToSpec($"disks[{i}]")).ToArray() };
        if (Nics is not null)
        {
            for (int i = 0; i < Nics.Count; i++)
                if ((Nics[i].Tap is null) == (Nics[i].Network is null)) throw HostException.BadRequest("a NIC names a tap or a network (one of them)", $"nics[{i}]");
            // The definition keeps them apart: tap NICs come first in the guest.
            d = d with
            {
                Networks = Nics.Select((nic, i) => (nic, i)).Where(x => x.nic.Tap is not null).Select(x => x.nic.ToSpec($"nics[{x.i}]")).ToArray(),
                NetworkNics = Nics.Where(n => n.Network is not null).Select(n => new NetworkNic(n.Network!, n.Mac ?? "")).ToArray(),
            };
        }
        if (Balloon is { } balloon) d = d with { Balloon = balloon };
        if (BalloonMin is not null) d = d with { BalloonMinimumBytes = BalloonMin.Length == 0 ? null : Field("balloon_min", () => MemorySize.Parse(BalloonMin)) };
        if (Ksm is { } ksm) d = d with { Ksm = ksm };
        if (CpuWeight is { } weight) d = d with { CpuWeight = weight };
        if (CpuPin is not null) d = d with { CpuPin = CpuPin.Length == 0 ? null : CpuPin };
        if (Numa is not null) d = d with { Numa = Numa };
        if (RestartPolicy is not null) d = d with { RestartPolicy = Field("restart_policy", () => RestartPolicyNames.Parse(RestartPolicy)) };
        if (Autostart is { } autostart) d = d with { Autostart = autostart };
        return d;
    }

    internal static T Field<T>(string field, Func<T> parse)
    {
        try { return parse(); }
        catch (FormatException e) { throw HostException.BadRequest(e.Message, field); }
    }
}

public sealed record DiskRequest(string Path, bool Readonly = false, string? Format = null)
{
    public DiskSpec ToSpec(string field)
    {
        if (string.IsNullOrEmpty(Path)) throw HostException.BadRequest("a disk needs a path", field);
        if (Format is not null && !DiskSpec.Formats.Contains(Format)) throw HostException.BadRequest($"disk format '{Format}' is not raw or qcow2", field);
        return new DiskSpec(Path, Readonly, Format);
    }
}

/// <summary>A NIC: on a tap the user made (<see cref="Tap"/>) or on a daemon network (<see cref="Network"/>; the daemon picks the MAC when none is given).</summary>
public sealed record NicRequest(string? Tap = null, string? Mac = null, string? Network = null)
{
    public NetSpec ToSpec(string field) =>
        InstanceRequest.Field(field, () => NetSpec.Parse(Mac is null ? $"tap={Tap}" : $"tap={Tap},mac={Mac}"));
}

/// <summary>The request that defines <paramref name="definition"/> again elsewhere (a migration's destination).</summary>
public static class InstanceRequests
{
    public static InstanceRequest From(InstanceDefinition d)
    {
        var t = d.Topology;
        return new InstanceRequest
        {
            Name = d.Name, Description = d.Description, Topology = $"sockets={t.Sockets},cores={t.Cores},threads={t.Threads}",
            Memory = $"{d.MemoryBytes / 1024}K", Engine = d.Engine, Kernel = d.KernelPath, Initrd = d.InitrdPath, Cmdline = d.CommandLine,
            Disks = d.Disks.Select(x => new DiskRequest(x.Path, x.ReadOnly, x.Format)).ToArray(),
            Nics = [.. d.Networks.Select(n => new NicRequest(n.Tap, n.Mac)), .. d.NetworkNics.Select(n => new NicRequest(Mac: n.Mac, Network: n.Network))],
            Balloon = d.Balloon, RestartPolicy = RestartPolicyNames.Format(d.RestartPolicy), Autostart = d.Autostart,
        };
    }
}
