namespace Sharpvisor.Host.Confinement;

/// <summary>
/// What the daemon asks for one VM's VMM process: what to run, what it may see, who it runs as, and its limits.
/// Paths are absolute. <see cref="ReadablePaths"/> and <see cref="WritablePaths"/> (files or directories) are the
/// only host files visible to the process besides the system's own (/usr, its libraries); <see cref="VmDirectory"/>
/// is always writable and is the process's working directory.
/// </summary>
public sealed record VmmLaunchSpec
{
    /// <summary>The VM's name: the leaf of its cgroup and jail directory (1-64 of [A-Za-z0-9_.-], not "." or "..").</summary>
    public required string Name { get; init; }
    /// <summary>state-dir/vms/NAME: its sockets, logs, usually its disks.</summary>
    public required string VmDirectory { get; init; }
    /// <summary>The program and its arguments; the first is an absolute path (e.g. /usr/bin/dotnet).</summary>
    public required IReadOnlyList<string> Argv { get; init; }
    public IReadOnlyList<string> ReadablePaths { get; init; } = [];
    public IReadOnlyList<string> WritablePaths { get; init; } = [];
    /// <summary>Extra environment variables (PATH, HOME=VmDirectory and TMPDIR=/tmp are always set).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
    /// <summary>Where stdout and stderr go (appended; created mode 0640 if missing).</summary>
    public required string LogFile { get; init; }
    public required VmmIdentity Identity { get; init; }
    public required VmmResourceLimits Limits { get; init; }
}

/// <summary>The unprivileged uid and gid a VMM runs as (never 0).</summary>
public readonly record struct VmmIdentity(int Uid, int Gid);

/// <summary>
/// A VMM's cgroup limits. CPU: <see cref="Vcpus"/> cores of quota plus the VMM's own threads' share, or <see cref="CpuCapCores"/> when smaller.
/// Memory: <see cref="MemoryLimitBytes"/> (swap included where the host can limit it; see
/// <see cref="VmmMemoryBudget"/> for guest memory plus the VMM's overhead). Pids: threads count.
/// </summary>
public sealed record VmmResourceLimits(int Vcpus, long MemoryLimitBytes, int PidsLimit = VmmResourceLimits.DefaultPidsLimit,
    double? CpuCapCores = null)
{
    /// <summary>An idle default-guest VMM had 12 threads (runtime, vCPU, devices); the thread pool may add more under load.</summary>
    public const int DefaultPidsLimit = 512;
    public const long CpuPeriodMicroseconds = 100_000;

    /// <summary>Share of contended CPU time in cgroup v2's cpu.weight terms (1-10000, 100 the default); v1's cpu.shares
    /// is it scaled to 1024.</summary>
    public int CpuWeight { get; init; } = 100;

    public long CpuSharesV1 => Math.Max(2, CpuWeight * 1024L / 100);

    /// <summary>
    /// Cores the VMM's own threads get beside its vCPUs (as libvirt's emulator threads have their own quota): the JIT's
    /// tier-up, the GC and the device threads. Unconfined, a 1-vCPU VMM booting the default guest used 1.1 cores on
    /// average; held to 1.0, its boot through the daemon took 1.28x as long as `run` alone (two boots), and with 0.5
    /// more bench/daemon measured 1.11x (BENCHMARKS.md, 2026-12-07).
    /// </summary>
    public const double VmmThreadsCores = 0.5;

    /// <summary>The CFS quota per period: the vCPU count plus <see cref="VmmThreadsCores"/>, or the cap when smaller.</summary>
    public long CpuQuotaMicroseconds => (long)Math.Ceiling(Math.Min(Vcpus + VmmThreadsCores, CpuCapCores ?? double.MaxValue) * CpuPeriodMicroseconds);

    public void Validate()
    {
        if (Vcpus < 1) throw new ArgumentException($"vCPU count {Vcpus}: must be at least 1");
        if (CpuCapCores is { } cap && !(cap >= 0.01)) throw new ArgumentException($"CPU cap {cap} cores: must be at least 0.01");
        if (MemoryLimitBytes < 16L << 20) throw new ArgumentException($"memory limit {MemoryLimitBytes} bytes: must be at least 16 MiB");
        if (CpuWeight is < 1 or > 10000) throw new ArgumentException($"CPU weight {CpuWeight}: must be 1 to 10000");
        if (PidsLimit < 8) throw new ArgumentException($"pids limit {PidsLimit}: must be at least 8");
    }
}
