namespace Sharpvisor.Machine.Memory;

/// <summary>
/// One guest NUMA node (vNUMA): the vCPUs (by index) that belong to it and how much of the guest's RAM is its own.
/// Nodes take RAM in order from address 0, across the MMIO hole as <see cref="X86MemoryLayout.RamBlocks"/> lays it out.
/// </summary>
public sealed record NumaNode(IReadOnlyList<int> Vcpus, ulong MemoryBytes)
{
    /// <summary>Linux ignores a node smaller than 4 MiB; 32 MiB leaves it room for its own page tables and zones.</summary>
    public const ulong MinMemory = 32UL << 20;
    /// <summary>Node boundaries on 2 MiB, so no large page straddles two nodes.</summary>
    public const ulong Granule = 2UL << 20;
    /// <summary>SLIT distances as QEMU gives them by default: 10 within a node, 20 between two.</summary>
    public const byte LocalDistance = 10, RemoteDistance = 20;

    /// <summary>Throws <see cref="FormatException"/> unless the nodes split exactly <paramref name="vcpuCount"/> vCPUs and
    /// <paramref name="memoryBytes"/> of RAM between them.</summary>
    public static void Validate(IReadOnlyList<NumaNode> nodes, int vcpuCount, ulong memoryBytes)
    {
        if (nodes.Count == 0) return;
        if (nodes.Count > 64) throw new FormatException($"{nodes.Count} NUMA nodes: at most 64");
        for (int i = 0; i < nodes.Count; i++)
        {
            var node = nodes[i];
            if (node.Vcpus.Count == 0) throw new FormatException($"NUMA node {i} has no vCPUs");
            if (node.MemoryBytes < MinMemory || node.MemoryBytes % Granule != 0)
                throw new FormatException($"NUMA node {i} has {node.MemoryBytes >> 20} MiB: a node needs at least {MinMemory >> 20} MiB, in whole 2 MiB");
            foreach (int vcpu in node.Vcpus)
                if (vcpu < 0 || vcpu >= vcpuCount) throw new FormatException($"NUMA node {i} names vCPU {vcpu}, but the VM has vCPUs 0-{vcpuCount - 1}");
        }
        var all = nodes.SelectMany(n => n.Vcpus).ToList();
        if (all.GroupBy(v => v).FirstOrDefault(g => g.Count() > 1) is { } twice) throw new FormatException($"vCPU {twice.Key} is in more than one NUMA node");
        if (all.Count != vcpuCount)
            throw new FormatException($"vCPU {Enumerable.Range(0, vcpuCount).Except(all).First()} is in no NUMA node: every vCPU belongs to one");
        ulong sum = nodes.Aggregate(0UL, (s, n) => s + n.MemoryBytes);
        if (sum != memoryBytes)
            throw new FormatException($"the NUMA nodes have {sum >> 20} MiB in all, but the VM has {memoryBytes >> 20} MiB of memory: they must be equal");
    }

    /// <summary>Each node's guest-physical ranges, in node order: RAM is handed out from address 0 up, and a node whose
    /// share crosses the MMIO hole gets a range below it and one from 4 GiB.</summary>
    public static IReadOnlyList<IReadOnlyList<(ulong Start, ulong Size)>> Ranges(IReadOnlyList<NumaNode> nodes)
    {
        ulong total = nodes.Aggregate(0UL, (s, n) => s + n.MemoryBytes);
        var blocks = new Queue<(ulong Start, ulong Size)>(X86MemoryLayout.RamBlocks(total));
        var result = new List<IReadOnlyList<(ulong, ulong)>>();
        foreach (var node in nodes)
        {
            var ranges = new List<(ulong, ulong)>();
            ulong left = node.MemoryBytes;
            while (left > 0)
            {
                var (start, size) = blocks.Dequeue();
                ulong take = Math.Min(size, left);
                ranges.Add((start, take));
                if (take < size) blocks = new Queue<(ulong, ulong)>(blocks.Prepend((start + take, size - take)));
                left -= take;
            }
            result.Add(ranges);
        }
        return result;
    }
}
