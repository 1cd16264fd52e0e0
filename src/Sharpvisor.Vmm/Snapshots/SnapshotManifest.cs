using Sharpvisor.Engines;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// Everything in a snapshot but guest RAM's contents: the VM's configuration, the guest clock, every vCPU as the
/// engine-neutral <see cref="CpuState"/>, every device as its own versioned record, and where each stored page of RAM
/// lies in the memory file. Stored as JSON inside the checksummed state file (<see cref="SnapshotFormat"/>).
/// </summary>
public sealed record SnapshotManifest
{
    public int FormatVersion { get; init; } = SnapshotFormat.CurrentVersion;
    public DateTimeOffset CreatedUtc { get; init; }
    /// <summary>The engine the VM ran on when saved; another engine may restore it where the guest allows.</summary>
    public EngineKind SourceEngine { get; init; }
    public required VmConfig Config { get; init; }
    /// <summary>The guest's clock (kvm-clock nanoseconds) when the VM was paused for the snapshot.</summary>
    public ulong ClockNanoseconds { get; init; }
    public required CpuState[] Vcpus { get; init; }
    public required DeviceStateEntry[] Devices { get; init; }
    /// <summary>State the source engine keeps itself (KVM's in-kernel PICs, IOAPIC and PIT); restored on the same engine only.</summary>
    public byte[] EngineState { get; init; } = [];
    public required MemoryImage Memory { get; init; }
    /// <summary>Whether the writable disks were frozen with the memory (<see cref="Disks"/>, one per writable disk);
    /// a snapshot for the Firecracker API leaves them to the user, as Firecracker does.</summary>
    public bool DisksCaptured { get; init; }
    public SnapshotDisk[] Disks { get; init; } = [];
}
