namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// The latest memory statistics a virtio-balloon driver sent on its statistics queue (virtio 1.x section 5.5.6.3):
/// each value by its tag (<see cref="SwapIn"/>, <see cref="MemoryFree"/>, ...; tags this type does not name are kept
/// too). Sizes are in bytes, the counters are events since the guest booted.
/// </summary>
public sealed record VirtioBalloonStatistics
{
    public const ushort SwapIn = 0, SwapOut = 1, MajorFaults = 2, MinorFaults = 3, MemoryFree = 4, MemoryTotal = 5,
        MemoryAvailable = 6, DiskCaches = 7, HugetlbAllocations = 8, HugetlbFailures = 9;

    /// <summary>When the device received them (host clock).</summary>
    public required DateTimeOffset ReceivedAt { get; init; }
    /// <summary>1 for the first set since the device was created, then one more per set.</summary>
    public required long Sequence { get; init; }
    public required IReadOnlyDictionary<ushort, ulong> Values { get; init; }

    public ulong? this[ushort tag] => Values.TryGetValue(tag, out ulong value) ? value : null;

    /// <summary>The name Linux and QEMU give a tag ("stat-free-memory", ...), or "tag-N".</summary>
    public static string NameOf(ushort tag) => tag switch
    {
        SwapIn => "stat-swap-in",
        SwapOut => "stat-swap-out",
        MajorFaults => "stat-major-faults",
        MinorFaults => "stat-minor-faults",
        MemoryFree => "stat-free-memory",
        MemoryTotal => "stat-total-memory",
        MemoryAvailable => "stat-available-memory",
        DiskCaches => "stat-disk-caches",
        HugetlbAllocations => "stat-htlb-pgalloc",
        HugetlbFailures => "stat-htlb-pgfail",
        _ => $"tag-{tag}",
    };
}
