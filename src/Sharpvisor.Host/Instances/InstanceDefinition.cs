using System.Text.RegularExpressions;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.EngineSelection;

namespace Sharpvisor.Host.Instances;

/// <summary>
/// What a user asked a VM to be: everything the daemon needs to start its VMM again, kept in the store. A plain,
/// versioned record; <see cref="Validated"/> is the one place its rules are checked (API and store load alike).
/// </summary>
public sealed partial record InstanceDefinition
{
    /// <summary>2: <see cref="NetworkNics"/>. A version 1 record reads as one without them.</summary>
    public const int CurrentVersion = 2;
    public int Version { get; init; } = CurrentVersion;

    public required string Name { get; init; }
    public CpuTopology Topology { get; init; } = CpuTopology.Flat(1);
    public ulong MemoryBytes { get; init; } = 512UL << 20;
    /// <summary>auto, kvm or emulator.</summary>
    public string Engine { get; init; } = "auto";
    /// <summary>Null: the default Debian guest (its kernel, initramfs and command line).</summary>
    public string? KernelPath { get; init; }
    public string? InitrdPath { get; init; }
    public string? CommandLine { get; init; }
    public IReadOnlyList<DiskSpec> Disks { get; init; } = [];
    /// <summary>NICs on taps the user made.</summary>
    public IReadOnlyList<NetSpec> Networks { get; init; } = [];
    /// <summary>NICs on the daemon's networks (after <see cref="Networks"/> in the guest's order).</summary>
    public IReadOnlyList<NetworkNic> NetworkNics { get; init; } = [];
    public bool Balloon { get; init; }
    /// <summary>What automatic ballooning leaves the guest at least; null: half its memory.</summary>
    public ulong? BalloonMinimumBytes { get; init; }
    /// <summary>Guest RAM is offered to the kernel's KSM (madvise MERGEABLE); the daemon runs KSM while such a VM runs.</summary>
    public bool Ksm { get; init; }
    /// <summary>Its share of contended CPU time against other VMs (cgroup cpu.weight, 1-10000; 100 is the default share).</summary>
    public int CpuWeight { get; init; } = 100;
    /// <summary>Host CPUs its VMM (vCPU threads and all) may run on, as "0-1,3"; null: any.</summary>
    public string? CpuPin { get; init; }
    /// <summary>Guest NUMA nodes as `run --numa` takes them ("node0:cpus=0-1,mem=512M"); empty: one node.</summary>
    public IReadOnlyList<string> Numa { get; init; } = [];
    public RestartPolicy RestartPolicy { get; init; } = RestartPolicy.No;
    /// <summary>Started when the daemon starts.</summary>
    public bool Autostart { get; init; }
    public string Description { get; init; } = "";

    public int VcpuCount => Topology.VcpuCount;

    /// <summary>The least memory automatic ballooning leaves this VM's guest.</summary>
    public ulong BalloonFloorBytes => BalloonMinimumBytes ?? MemoryBytes / 2 / 4096 * 4096;

    /// <summary>Incus's rule for instance names: they become folder names, host names and URL segments.</summary>
    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex NamePattern();

    public static string? NameProblem(string? name) =>
        name is null or "" ? "name is missing"
        : NamePattern().IsMatch(name) ? null
        : $"name '{Truncate(name)}' must be 1-63 lower-case letters, digits and dashes, not starting or ending with a dash (no '/', '.', spaces)";

    private static string Truncate(string text) => text.Length > 64 ? text[..64] + "…" : text;

    /// <summary>Throws <see cref="InstanceDefinitionException"/> naming the field when a rule is broken.</summary>
    public InstanceDefinition Validated(IDiskPathPolicy disks)
    {
        if (Version != CurrentVersion) throw new InstanceDefinitionException("version", $"definition version {Version} is not {CurrentVersion}");
        if (NameProblem(Name) is { } problem) throw new InstanceDefinitionException("name", problem);
        try { Topology.Validated(); }
        catch (FormatException e) { throw new InstanceDefinitionException("topology", e.Message); }
        if (MemoryBytes < VmConfig.MinMemory) throw new InstanceDefinitionException("memory", $"memory must be at least {MemorySize.Format(VmConfig.MinMemory)}");
        if (MemoryBytes % 4096 != 0) throw new InstanceDefinitionException("memory", "memory must be a whole number of 4 KiB pages");
        if (MemoryBytes > 1UL << 40) throw new InstanceDefinitionException("memory", $"{MemorySize.Format(MemoryBytes)} is more than the 1 TiB a VM may have");
        if (!EngineCatalog.ChoiceNames.Contains(Engine))
            throw new InstanceDefinitionException("engine", $"engine '{Engine}' is not one of {string.Join(", ", EngineCatalog.ChoiceNames)}");
        if (KernelPath is null && InitrdPath is not null) throw new InstanceDefinitionException("initrd", "an initrd needs a kernel");
        CheckFile("kernel", KernelPath, disks);
        CheckFile("initrd", InitrdPath, disks);
        if (CommandLine is { Length: > 4096 }) throw new InstanceDefinitionException("cmdline", "the kernel command line is longer than 4,096 bytes");
        if (Disks.Count > 26) throw new InstanceDefinitionException("disks", "at most 26 disks");
        for (int i = 0; i < Disks.Count; i++)
            if (disks.Problem(Disks[i]) is { } diskProblem) throw new InstanceDefinitionException($"disks[{i}]", diskProblem);
        if (Disks.GroupBy(d => Path.GetFullPath(d.Path)).FirstOrDefault(g => g.Count() > 1) is { } sameDisk)
            throw new InstanceDefinitionException("disks", $"disk {sameDisk.Key} is given twice");
        if (Networks.GroupBy(n => n.Tap).FirstOrDefault(g => g.Count() > 1) is { } sameTap)
            throw new InstanceDefinitionException("nics", $"tap {sameTap.Key} is given to more than one NIC");
        if (Networks.Count + NetworkNics.Count > 8) throw new InstanceDefinitionException("nics", "at most 8 NICs");
        for (int i = 0; i < NetworkNics.Count; i++)
            if (NetworkNics[i].Problem() is { } nicProblem) throw new InstanceDefinitionException($"nics[{Networks.Count + i}]", nicProblem);
        if (Networks.Select(n => n.MacAddress).Concat(NetworkNics.Select(n => n.Mac)).GroupBy(m => m, StringComparer.OrdinalIgnoreCase)
                .FirstOrDefault(g => g.Count() > 1) is { } sameMac)
            throw new InstanceDefinitionException("nics", $"MAC address {sameMac.Key} is given to more than one NIC");
        if (CpuWeight is < 1 or > 10000) throw new InstanceDefinitionException("cpu_weight", $"cpu_weight must be 1 to 10,000, not {CpuWeight}");
        if (CpuPin is not null)
        {
            try { CpuList.Parse(CpuPin, Environment.ProcessorCount); }
            catch (FormatException e) { throw new InstanceDefinitionException("cpu_pin", e.Message); }
        }
        if (Numa.Count > 0)
        {
            try { Machine.Memory.NumaNode.Validate(NumaSpec.Parse(Numa), VcpuCount, MemoryBytes); }
            catch (FormatException e) { throw new InstanceDefinitionException("numa", e.Message); }
        }
        if (BalloonMinimumBytes is { } floor)
        {
            if (!Balloon) throw new InstanceDefinitionException("balloon_min", "balloon_min needs a balloon (balloon: true)");
            if (floor > MemoryBytes || floor < VmConfig.MinMemory)
                throw new InstanceDefinitionException("balloon_min", $"balloon_min must be from {MemorySize.Format(VmConfig.MinMemory)} to the VM's memory ({MemorySize.Format(MemoryBytes)})");
        }
        if (Description.Length > 1024) throw new InstanceDefinitionException("description", "the description is longer than 1,024 characters");
        return this;
    }

    // The guest reads its kernel and initrd whole: any host file named here would be readable inside the VM.
    private static void CheckFile(string field, string? path, IDiskPathPolicy files)
    {
        if (path is null) return;
        if (!Path.IsPathFullyQualified(path)) throw new InstanceDefinitionException(field, $"{field} '{path}' is not an absolute path");
        if (files.FileProblem(field, path) is { } problem) throw new InstanceDefinitionException(field, problem);
    }
}

/// <summary>A definition broke a rule: <see cref="Field"/> names the field, as the API reports it.</summary>
public sealed class InstanceDefinitionException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>Which disk files a VM may be given.</summary>
public interface IDiskPathPolicy
{
    /// <summary>Null when the VM may use the disk; otherwise why not.</summary>
    string? Problem(DiskSpec disk);

    /// <summary>The same rule for a file the VM boots from (its kernel or initrd), <paramref name="what"/> naming it.</summary>
    string? FileProblem(string what, string path);
}
