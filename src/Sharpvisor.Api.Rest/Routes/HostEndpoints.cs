using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Api.Rest.Routes;

/// <summary>/1.0/host: capacity, what is allocated against the overcommit ratios, and what the VMs' processes use.</summary>
internal static class HostEndpoints
{
    public static IResult Get(InstanceManager manager)
    {
        var (capacity, allocated) = manager.Allocations();
        var instances = manager.List();
        ulong resident = 0;
        foreach (var record in instances) resident += manager.Usage(record.Name)?.ResidentBytes ?? 0;
        return ApiResponses.Sync(new
        {
            HostName = manager.Options.HostName,
            Cores = capacity.Cores,
            MemoryBytes = capacity.MemoryBytes,
            ReservedMemoryBytes = capacity.ReservedMemoryBytes,
            DiskBytes = capacity.DiskBytes,
            Ratios = new { Cpu = capacity.CpuRatio, Memory = capacity.MemoryRatio, Disk = capacity.DiskRatio },
            Limits = new { Vcpus = capacity.VcpuLimit, MemoryBytes = capacity.MemoryLimitBytes, DiskBytes = capacity.DiskLimitBytes },
            Allocated = new { allocated.Vcpus, allocated.MemoryBytes, allocated.DiskBytes },
            Instances = instances.Count,
            Running = instances.Count(r => Host.Instances.InstanceStatusNames.HasProcess(r.Status)),
            VmmResidentBytes = resident,
        });
    }
}
