using System.Globalization;

namespace Sharpvisor.Host.Admission;

/// <summary>
/// Decides whether a VM fits: used + requested ≤ limit for vCPUs, memory and disk (<see cref="HostCapacity"/>), and no
/// VM with more vCPUs than the host has cores (overcommit shares cores between VMs; one VM's vCPUs on fewer cores than
/// it has only spin against each other). A refusal gives the numbers, so a user sees how far over it is.
/// </summary>
public static class AdmissionPolicy
{
    /// <summary>Null when <paramref name="requested"/> fits beside <paramref name="used"/>; otherwise the reason.</summary>
    public static string? Refusal(HostCapacity host, Allocation used, Allocation requested)
    {
        var c = CultureInfo.InvariantCulture;
        if (requested.Vcpus > host.Cores)
            return string.Format(c, "{0:N0} vCPUs is more than this host's {1:N0} cores", requested.Vcpus, host.Cores);
        if (used.Vcpus + requested.Vcpus > host.VcpuLimit)
            return string.Format(c, "needs {0:N0} vCPUs; {1:N0} of {2:N0} already allocated; {2:N0} = {3:N0} cores × {4}",
                requested.Vcpus, used.Vcpus, host.VcpuLimit, host.Cores, host.CpuRatio);
        if (used.MemoryBytes + requested.MemoryBytes > host.MemoryLimitBytes)
            return string.Format(c, "needs {0:N0} MiB; {1:N0} of {2:N0} MiB already allocated; {2:N0} = ({3:N0} - {4:N0}) × {5}",
                Mib(requested.MemoryBytes), Mib(used.MemoryBytes), Mib(host.MemoryLimitBytes), Mib(host.MemoryBytes),
                Mib(host.ReservedMemoryBytes), host.MemoryRatio);
        if (used.DiskBytes + requested.DiskBytes > host.DiskLimitBytes)
            return string.Format(c, "needs {0:N0} MiB of disk; {1:N0} of {2:N0} MiB already allocated; {2:N0} = {3:N0} × {4}",
                Mib(requested.DiskBytes), Mib(used.DiskBytes), Mib(host.DiskLimitBytes), Mib(host.DiskBytes), host.DiskRatio);
        return null;
    }

    // Whole MiB, rounded up: a refusal must never show a request that looks as if it fitted.
    private static ulong Mib(ulong bytes) => (bytes + (1UL << 20) - 1) >> 20;
}
