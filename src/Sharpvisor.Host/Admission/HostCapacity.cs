namespace Sharpvisor.Host.Admission;

/// <summary>
/// What a host offers VMs, and how far it may be overcommitted, as Nova's placement models it: an inventory per resource
/// (cores, memory, disk), a reserve kept for the host itself, and an allocation ratio. A resource's limit is
/// (total - reserved) × ratio.
/// </summary>
public sealed record HostCapacity
{
    public required int Cores { get; init; }
    public required ulong MemoryBytes { get; init; }
    public ulong ReservedMemoryBytes { get; init; } = 512UL << 20;
    public required ulong DiskBytes { get; init; }
    public double CpuRatio { get; init; } = 4.0;
    public double MemoryRatio { get; init; } = 1.5;
    public double DiskRatio { get; init; } = 1.0;

    public long VcpuLimit => (long)Math.Floor(Cores * CpuRatio);
    public ulong MemoryLimitBytes => (ulong)Math.Floor((MemoryBytes - Math.Min(MemoryBytes, ReservedMemoryBytes)) * MemoryRatio);
    public ulong DiskLimitBytes => (ulong)Math.Floor(DiskBytes * DiskRatio);

    public HostCapacity Validated()
    {
        if (Cores < 1) throw new FormatException("the host needs at least one core");
        if (ReservedMemoryBytes >= MemoryBytes) throw new FormatException("the reserved memory is all of the host's memory");
        foreach (var (name, ratio) in new[] { ("cpu", CpuRatio), ("memory", MemoryRatio), ("disk", DiskRatio) })
            if (!(ratio > 0 && ratio <= 64)) throw new FormatException($"the {name} allocation ratio {ratio} is not in (0, 64]");
        return this;
    }
}

/// <summary>What one VM takes from a host's capacity.</summary>
public readonly record struct Allocation(int Vcpus, ulong MemoryBytes, ulong DiskBytes)
{
    public static Allocation operator +(Allocation a, Allocation b) =>
        new(a.Vcpus + b.Vcpus, a.MemoryBytes + b.MemoryBytes, a.DiskBytes + b.DiskBytes);
}
