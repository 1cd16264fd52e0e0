using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Vmm.Configuration;

/// <summary>Everything needed to build a VM: plain data, so it can be written next to a VM's disks and snapshots.</summary>
public sealed record VmConfig
{
    public const int CurrentVersion = 4; // 2: Ksm; 3: Vsock; 4: NumaNodes
    public int Version { get; init; } = CurrentVersion;

    public required string KernelPath { get; init; }
    public string? InitrdPath { get; init; }
    public string CommandLine { get; init; } = "";
    public ulong MemoryBytes { get; init; } = 512UL << 20;
    public CpuTopology Topology { get; init; } = CpuTopology.Flat(1);
    public SerialSpec Serial { get; init; } = SerialSpec.Stdio;
    /// <summary>The isa-debug-exit port and the pc-testdev echo ranges that our test guests use.</summary>
    public bool TestDevices { get; init; }
    /// <summary>
    /// Host input waits until the guest prints this text (the default guest's ready line), so commands piped or typed
    /// early are not lost while the kernel resets its serial port's FIFOs during boot. Null: input goes in at once.
    /// </summary>
    public string? HoldInputUntilOutput { get; init; }
    /// <summary>When the guest asks for a reset, end the run instead of rebooting (QEMU's -no-reboot).</summary>
    public bool NoReboot { get; init; }
    /// <summary>virtio-blk disks, in order: the guest sees them as /dev/vda, /dev/vdb, ...</summary>
    public IReadOnlyList<DiskSpec> Disks { get; init; } = [];
    /// <summary>virtio-net interfaces on tap devices, in order: the guest sees them as eth0, eth1, ...</summary>
    public IReadOnlyList<NetSpec> Networks { get; init; } = [];
    /// <summary>A virtio-rng device fed from the host's getrandom.</summary>
    public bool EntropyDevice { get; init; } = true;
    /// <summary>A virtio-balloon device (its target starts at 0 pages: the guest keeps all its memory).</summary>
    public bool BalloonDevice { get; init; }
    /// <summary>Guest RAM is marked MADV_MERGEABLE, so the host's KSM (when switched on) may share identical pages.</summary>
    public bool Ksm { get; init; }
    /// <summary>A virtio-vsock device with Firecracker's unix-socket host side.</summary>
    public VsockSpec? Vsock { get; init; }
    /// <summary>Guest NUMA nodes (ACPI SRAT and SLIT); empty: one node, as before.</summary>
    public IReadOnlyList<Machine.Memory.NumaNode> NumaNodes { get; init; } = [];

    public const ulong MinMemory = 16UL << 20;

    /// <summary>Checks what can be checked without building anything; throws <see cref="FormatException"/> with the reason.</summary>
    public VmConfig Validated(ulong hostMemoryBytes)
    {
        if (MemoryBytes < MinMemory) throw new FormatException($"memory must be at least {MemorySize.Format(MinMemory)}");
        if (MemoryBytes % 4096 != 0) throw new FormatException("memory must be a whole number of 4 KiB pages");
        // Overcommit is allowed up to 150% of the host, as the platform's policy says; guest memory is committed only when touched.
        ulong limit = hostMemoryBytes / 2 * 3;
        if (hostMemoryBytes > 0 && MemoryBytes > limit)
            throw new FormatException($"{MemorySize.Format(MemoryBytes)} is more than 150% of this host's {MemorySize.Format(hostMemoryBytes)} (at most {MemorySize.Format(limit)})");
        Topology.Validated();
        Machine.Memory.NumaNode.Validate(NumaNodes, Topology.VcpuCount, MemoryBytes);
        if (!File.Exists(KernelPath)) throw new FormatException($"kernel '{KernelPath}' does not exist");
        if (InitrdPath is not null && !File.Exists(InitrdPath)) throw new FormatException($"initrd '{InitrdPath}' does not exist");
        foreach (var disk in Disks)
        {
            if (!File.Exists(disk.Path)) throw new FormatException($"disk '{disk.Path}' does not exist");
            if (new FileInfo(disk.Path).Length < 512) throw new FormatException($"disk '{disk.Path}' is smaller than one 512-byte sector");
        }
        if (Disks.Count > 26) throw new FormatException("at most 26 disks");
        if (Networks.GroupBy(n => n.Tap).FirstOrDefault(g => g.Count() > 1) is { } sameTap)
            throw new FormatException($"tap {sameTap.Key} is given to more than one --net");
        if (Networks.GroupBy(n => n.MacAddress).FirstOrDefault(g => g.Count() > 1) is { } sameMac)
            throw new FormatException($"MAC address {sameMac.Key} is given to more than one --net");
        Vsock?.Validated();
        return this;
    }
}
