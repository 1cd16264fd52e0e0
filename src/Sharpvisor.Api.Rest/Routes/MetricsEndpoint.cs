using Prometheus;
using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Supervision;


namespace Sharpvisor.Api.Rest.Routes;

/// <summary>
/// /metrics in Prometheus' text format (prometheus-net): per VM its state, allocation and what its VMM process uses
/// (resident memory, CPU time), and the host's allocations against capacity. Figures are read at each scrape.
/// </summary>
internal sealed class MetricsEndpoint
{
    private readonly CollectorRegistry _registry = Metrics.NewCustomRegistry();
    private readonly InstanceManager _manager;
    private readonly Gauge _status, _vcpus, _memory, _resident, _cpuSeconds, _hostCapacity, _hostAllocated, _hostLimit;
    private readonly Gauge _diskBytes, _diskRequests, _netBytes, _netFrames, _runReturns;

    public MetricsEndpoint(InstanceManager manager)
    {
        _manager = manager;
        var factory = Metrics.WithCustomRegistry(_registry);
        _status = factory.CreateGauge("sharpvisor_instance_status", "1 for the state the VM is in.", "instance", "status");
        _vcpus = factory.CreateGauge("sharpvisor_instance_vcpus", "vCPUs the VM is given.", "instance");
        _memory = factory.CreateGauge("sharpvisor_instance_memory_bytes", "Guest memory the VM is given.", "instance");
        _resident = factory.CreateGauge("sharpvisor_instance_resident_bytes", "Host memory resident in the VM's VMM process (guest RAM it touched and the VMM).", "instance");
        _cpuSeconds = factory.CreateGauge("sharpvisor_instance_cpu_seconds", "CPU time of the VM's current VMM process (its vCPUs and device threads), user and system.", "instance");
        _hostCapacity = factory.CreateGauge("sharpvisor_host_capacity", "The host's inventory: vcpus (cores), memory_bytes, disk_bytes.", "resource");
        _hostAllocated = factory.CreateGauge("sharpvisor_host_allocated", "What the host's VMs are given, per resource.", "resource");
        _hostLimit = factory.CreateGauge("sharpvisor_host_limit", "(capacity - reserved) × allocation ratio, per resource.", "resource");
        _diskBytes = factory.CreateGauge("sharpvisor_instance_disk_bytes", "Bytes the guest read or wrote on a virtio-blk disk in its current VMM.", "instance", "disk", "direction");
        _diskRequests = factory.CreateGauge("sharpvisor_instance_disk_requests", "virtio-blk requests (read, write, flush) in the current VMM.", "instance", "disk", "type");
        _netBytes = factory.CreateGauge("sharpvisor_instance_network_bytes", "Bytes of frames a virtio-net NIC received (rx) or sent (tx) in the current VMM.", "instance", "nic", "direction");
        _netFrames = factory.CreateGauge("sharpvisor_instance_network_frames", "Frames a virtio-net NIC received (rx) or sent (tx) in the current VMM.", "instance", "nic", "direction");
        _runReturns = factory.CreateGauge("sharpvisor_instance_vcpu_exits", "Port I/O and MMIO exits of the VM's vCPUs in its current VMM (KVM's I/O exits; the emulator counts the same accesses).", "instance");
        _registry.AddBeforeCollectCallback(Refresh);
        _registry.AddBeforeCollectCallback(RefreshCountersAsync);
    }

    public async Task Get(HttpContext context)
    {
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await _registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }

    private void Refresh()
    {
        var records = _manager.List();
        foreach (var gauge in new[] { _status, _vcpus, _memory, _resident, _cpuSeconds, _diskBytes, _diskRequests, _netBytes, _netFrames, _runReturns })
            foreach (var labels in gauge.GetAllLabelValues().ToArray())
                if (!records.Any(r => r.Name == labels[0])) gauge.RemoveLabelled(labels);
        foreach (var record in records)
        {
            foreach (var status in Enum.GetValues<InstanceStatus>())
                _status.WithLabels(record.Name, InstanceStatusNames.Format(status)).Set(record.Status == status ? 1 : 0);
            _vcpus.WithLabels(record.Name).Set(record.Definition.VcpuCount);
            _memory.WithLabels(record.Name).Set(record.Definition.MemoryBytes);
            var usage = _manager.Usage(record.Name);
            _resident.WithLabels(record.Name).Set(usage?.ResidentBytes ?? 0);
            _cpuSeconds.WithLabels(record.Name).Set(usage?.CpuTime.TotalSeconds ?? 0);
        }
        var (capacity, allocated) = _manager.Allocations();
        Set(_hostCapacity, capacity.Cores, capacity.MemoryBytes, capacity.DiskBytes);
        Set(_hostAllocated, allocated.Vcpus, allocated.MemoryBytes, allocated.DiskBytes);
        Set(_hostLimit, capacity.VcpuLimit, capacity.MemoryLimitBytes, capacity.DiskLimitBytes);
    }

    // The VMMs' own counters, asked over each running VM's control socket (`stats`); a VMM that does not answer in a
    // second keeps its last figures rather than holding up the scrape.
    private async Task RefreshCountersAsync(CancellationToken ct)
    {
        var running = _manager.List().Where(r => InstanceStatusNames.HasProcess(r.Status)).ToList();
        var replies = await Task.WhenAll(running.Select(async r =>
        {
            try { return (r.Name, Stats: await VmmControl.SendAsync(_manager.Options.Paths.ControlSocket(r.Name), "stats", TimeSpan.FromSeconds(1)).ConfigureAwait(false)); }
            catch (Exception e) when (e is VmmControlException or IOException) { return (r.Name, Stats: (string?)null); }
        })).ConfigureAwait(false);
        foreach (var (name, stats) in replies)
        {
            if (stats is null) continue;
            foreach (var pair in stats.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var (key, text) = pair.Split('=', 2) is [var k, var v] ? (k, v) : (pair, "");
                if (!double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out double value)) continue;
                var parts = key.Split('-');
                switch (parts)
                {
                    case ["io", "exits"]: _runReturns.WithLabels(name).Set(value); break;
                    case [var disk, var direction, "bytes"] when disk.StartsWith("disk", StringComparison.Ordinal): _diskBytes.WithLabels(name, disk, direction).Set(value); break;
                    case [var disk, var type, "requests"] when disk.StartsWith("disk", StringComparison.Ordinal): _diskRequests.WithLabels(name, disk, type).Set(value); break;
                    case [var nic, var direction, "bytes"] when nic.StartsWith("net", StringComparison.Ordinal): _netBytes.WithLabels(name, nic, direction).Set(value); break;
                    case [var nic, var direction, "frames"] when nic.StartsWith("net", StringComparison.Ordinal): _netFrames.WithLabels(name, nic, direction).Set(value); break;
                }
            }
        }
    }

    private static void Set(Gauge gauge, double vcpus, double memory, double disk)
    {
        gauge.WithLabels("vcpus").Set(vcpus);
        gauge.WithLabels("memory_bytes").Set(memory);
        gauge.WithLabels("disk_bytes").Set(disk);
    }
}
