namespace Sharpvisor.Host.Confinement;

/// <summary>
/// One VMM's cgroup: a directory per controller (v1) or one directory (v2). <see cref="Path"/> names them all in one
/// string the daemon can store and hand back to <see cref="Open"/> after a restart.
/// </summary>
public sealed class VmmCgroup
{
    private VmmCgroup(int version, IReadOnlyDictionary<string, string> directories)
    {
        Version = version;
        Directories = directories;
    }

    public int Version { get; }
    /// <summary>Controller (cpu, memory, pids) -> its directory.</summary>
    public IReadOnlyDictionary<string, string> Directories { get; }
    /// <summary>The distinct directories, ';'-separated (one for v2).</summary>
    public string Path => string.Join(';', Distinct);
    private IEnumerable<string> Distinct => CgroupLayout.Controllers.Select(c => Directories[c]).Distinct();

    /// <summary>cgroup.procs of each directory: a process joins the VM's cgroup by writing its pid to each.</summary>
    public IEnumerable<string> ProcsFiles => Distinct.Select(d => System.IO.Path.Combine(d, "cgroup.procs"));

    /// <summary>Makes the VM's cgroup (a leftover empty one of the same name is reused; one with processes is refused).</summary>
    public static VmmCgroup Create(CgroupLayout layout, string vmName)
    {
        if (!VmmNames.IsValid(vmName)) throw new ArgumentException($"VM name '{vmName}' cannot name a cgroup");
        var directories = layout.ParentDirectories.ToDictionary(e => e.Key, e => System.IO.Path.Combine(e.Value, vmName));
        var cgroup = new VmmCgroup(layout.Version, directories);
        var busy = cgroup.Processes().ToList();
        if (busy.Count > 0)
            throw new InvalidOperationException($"VM {vmName}'s cgroup {cgroup.Path} still has processes ({string.Join(", ", busy)})");
        foreach (string directory in cgroup.Distinct) Directory.CreateDirectory(directory);
        return cgroup;
    }

    /// <summary>The cgroup named by a <see cref="Path"/> string. Throws <see cref="ArgumentException"/> if it is not one.</summary>
    public static VmmCgroup Open(string path)
    {
        var parts = path.Split(';', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ArgumentException("empty cgroup path");
        foreach (string part in parts)
            if (!System.IO.Path.IsPathRooted(part) || part.Contains("/../") || !File.Exists(System.IO.Path.Combine(part, "cgroup.procs")))
                throw new ArgumentException($"'{part}' is not a cgroup directory");
        if (parts.Length == 1 && File.Exists(System.IO.Path.Combine(parts[0], "cgroup.controllers")))
            return new VmmCgroup(2, CgroupLayout.Controllers.ToDictionary(c => c, _ => parts[0]));
        var directories = new Dictionary<string, string>();
        foreach (string part in parts)
        {
            if (File.Exists(System.IO.Path.Combine(part, "cpu.cfs_quota_us"))) directories["cpu"] = part;
            if (File.Exists(System.IO.Path.Combine(part, "memory.limit_in_bytes"))) directories["memory"] = part;
            if (File.Exists(System.IO.Path.Combine(part, "pids.max"))) directories["pids"] = part;
        }
        string[] missing = CgroupLayout.Controllers.Where(c => !directories.ContainsKey(c)).ToArray();
        if (missing.Length > 0) throw new ArgumentException($"cgroup path '{path}' has no {string.Join(", ", missing)} directory");
        return new VmmCgroup(1, directories);
    }

    /// <summary>Writes the CPU quota, the memory limit (swap too, where the host can limit it) and the pids limit.</summary>
    public void Apply(VmmResourceLimits limits)
    {
        limits.Validate();
        long quota = limits.CpuQuotaMicroseconds, period = VmmResourceLimits.CpuPeriodMicroseconds;
        if (Version == 2)
        {
            Write("cpu", "cpu.max", $"{quota} {period}");
            Write("cpu", "cpu.weight", limits.CpuWeight.ToString());
            Write("memory", "memory.max", limits.MemoryLimitBytes.ToString());
            WriteIfPresent("memory", "memory.swap.max", "0");
            WriteIfPresent("memory", "memory.oom.group", "1");
        }
        else
        {
            Write("cpu", "cpu.cfs_period_us", period.ToString());
            Write("cpu", "cpu.cfs_quota_us", quota.ToString());
            Write("cpu", "cpu.shares", limits.CpuSharesV1.ToString());
            Write("memory", "memory.limit_in_bytes", limits.MemoryLimitBytes.ToString());
            WriteIfPresent("memory", "memory.memsw.limit_in_bytes", limits.MemoryLimitBytes.ToString()); // after: memsw >= limit
        }
        Write("pids", "pids.max", limits.PidsLimit.ToString());
    }

    /// <summary>What the kernel holds now: CPU quota and period (µs), memory limit (bytes), pids limit.</summary>
    public (long QuotaMicroseconds, long PeriodMicroseconds, long MemoryLimitBytes, long PidsLimit) ReadLimits()
    {
        long quota, period;
        if (Version == 2)
        {
            string[] cpu = Read("cpu", "cpu.max").Split(' ');
            (quota, period) = (cpu[0] == "max" ? -1 : long.Parse(cpu[0]), long.Parse(cpu[1]));
        }
        else (quota, period) = (long.Parse(Read("cpu", "cpu.cfs_quota_us")), long.Parse(Read("cpu", "cpu.cfs_period_us")));
        string memory = Read("memory", Version == 2 ? "memory.max" : "memory.limit_in_bytes");
        string pids = Read("pids", "pids.max");
        return (quota, period, memory == "max" ? long.MaxValue : long.Parse(memory), pids == "max" ? long.MaxValue : long.Parse(pids));
    }

    /// <summary>Memory charged to the cgroup now and at its peak (bytes; peak is null where the kernel does not keep it).</summary>
    public (long Current, long? Peak) MemoryUsage()
    {
        string current = Version == 2 ? "memory.current" : "memory.usage_in_bytes";
        string peak = System.IO.Path.Combine(Directories["memory"], Version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
        return (long.Parse(Read("memory", current)), File.Exists(peak) ? long.Parse(File.ReadAllText(peak).Trim()) : null);
    }

    /// <summary>How many times the kernel's OOM killer killed a process of this cgroup (0 where the kernel does not say).</summary>
    public long OomKills()
    {
        string file = System.IO.Path.Combine(Directories["memory"], Version == 2 ? "memory.events" : "memory.oom_control");
        if (!File.Exists(file)) return 0;
        foreach (string line in File.ReadAllLines(file))
            if (line.StartsWith("oom_kill ", StringComparison.Ordinal)) return long.Parse(line["oom_kill ".Length..]);
        return 0;
    }

    /// <summary>Pids of the processes in the cgroup (in any of its directories).</summary>
    public IEnumerable<int> Processes() =>
        ProcsFiles.Where(File.Exists).SelectMany(File.ReadAllLines).Where(l => l.Length > 0).Select(int.Parse).Distinct();

    /// <summary>Whether <paramref name="pid"/> is in every directory of this cgroup.</summary>
    public bool Contains(int pid) =>
        ProcsFiles.All(f => File.Exists(f) && File.ReadAllLines(f).Contains(pid.ToString()));

    /// <summary>
    /// Removes the directories once no process is left. A process that just exited may linger for a moment, so an
    /// EBUSY is retried until <paramref name="wait"/>; then it throws naming the processes still there.
    /// </summary>
    public void Remove(TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        foreach (string directory in Distinct)
        {
            while (Directory.Exists(directory))
            {
                try
                {
                    Directory.Delete(directory); // rmdir: cgroup directories hold only the kernel's files
                }
                catch (IOException) when (DateTime.UtcNow < deadline)
                {
                    Thread.Sleep(20);
                }
                catch (IOException e)
                {
                    throw new IOException($"cannot remove cgroup {directory}: {e.Message} (processes: {string.Join(", ", Processes())})", e);
                }
            }
        }
    }

    private string Read(string controller, string file) => File.ReadAllText(System.IO.Path.Combine(Directories[controller], file)).Trim();

    private void Write(string controller, string file, string value)
    {
        string path = System.IO.Path.Combine(Directories[controller], file);
        try
        {
            File.WriteAllText(path, value);
        }
        catch (IOException e)
        {
            throw new IOException($"cannot write '{value}' to {path}: {e.Message}", e);
        }
    }

    private void WriteIfPresent(string controller, string file, string value)
    {
        if (File.Exists(System.IO.Path.Combine(Directories[controller], file))) Write(controller, file, value);
    }
}
