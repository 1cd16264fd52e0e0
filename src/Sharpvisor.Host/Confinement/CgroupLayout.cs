namespace Sharpvisor.Host.Confinement;

/// <summary>
/// Where this host's cgroups are and which version the daemon uses: v2 where a cgroup2 mount offers the cpu, memory
/// and pids controllers to the daemon's own cgroup, otherwise v1 hierarchies for those three. VM cgroups go under
/// the daemon's own cgroup (in each hierarchy), in a child named <see cref="ParentName"/>, so they stay inside
/// whatever limits the daemon itself runs under.
/// </summary>
public sealed class CgroupLayout
{
    public static readonly string[] Controllers = ["cpu", "memory", "pids"];

    private CgroupLayout(int version, IReadOnlyDictionary<string, string> parents, string parentName)
    {
        Version = version;
        ParentDirectories = parents;
        ParentName = parentName;
    }

    /// <summary>1 or 2.</summary>
    public int Version { get; }
    public string ParentName { get; }
    /// <summary>Controller -> the directory VM cgroups are made in (v2: the same directory for all three).</summary>
    public IReadOnlyDictionary<string, string> ParentDirectories { get; }

    /// <summary>Reads /proc/self/mountinfo and /proc/self/cgroup. Throws <see cref="CgroupUnavailableException"/> naming what is missing.</summary>
    public static CgroupLayout Detect(string parentName = "sharpvisor")
    {
        if (!VmmNames.IsValid(parentName)) throw new ArgumentException($"cgroup parent name '{parentName}' is not a plain name");
        var mounts = CgroupMounts.Read(File.ReadAllLines("/proc/self/mountinfo"));
        var membership = CgroupMounts.ReadMembership(File.ReadAllLines("/proc/self/cgroup"));
        string? whyNotV2 = TryV2(mounts, membership, parentName, out var v2);
        if (v2 is not null) return v2;
        string? whyNotV1 = TryV1(mounts, membership, parentName, out var v1);
        if (v1 is not null) return v1;
        throw new CgroupUnavailableException($"no usable cgroups for VMMs: v2: {whyNotV2}; v1: {whyNotV1}");
    }

    private static string? TryV2(IReadOnlyList<CgroupMounts.Mount> mounts, IReadOnlyDictionary<string, string> membership,
        string parentName, out CgroupLayout? layout)
    {
        layout = null;
        var mount = mounts.FirstOrDefault(m => m.IsV2);
        if (mount is null) return "no cgroup2 file system is mounted";
        if (!membership.TryGetValue("", out string? own)) return "this process has no cgroup2 entry in /proc/self/cgroup";
        string ownDirectory = CgroupMounts.Join(mount.MountPoint, mount.Relative(own));
        string available = File.ReadAllText(Path.Combine(ownDirectory, "cgroup.controllers"));
        string[] missing = Controllers.Except(available.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
        if (missing.Length > 0)
            return $"{mount.MountPoint} does not offer {string.Join(", ", missing)} to {ownDirectory} (those controllers are bound to v1 hierarchies or not enabled by the parent)";
        string parent = Path.Combine(ownDirectory, parentName);
        try
        {
            EnableControllers(ownDirectory);
            Directory.CreateDirectory(parent);
            EnableControllers(parent);
        }
        catch (IOException e)
        {
            return $"cannot enable cpu, memory and pids for children of {ownDirectory} ({e.Message}; a cgroup with processes cannot have " +
                   "controlled children: start the daemon in a delegated cgroup, e.g. systemd's Delegate=yes)";
        }
        layout = new CgroupLayout(2, Controllers.ToDictionary(c => c, _ => parent), parentName);
        return null;
    }

    private static string? TryV1(IReadOnlyList<CgroupMounts.Mount> mounts, IReadOnlyDictionary<string, string> membership,
        string parentName, out CgroupLayout? layout)
    {
        layout = null;
        var parents = new Dictionary<string, string>();
        foreach (string controller in Controllers)
        {
            var mount = mounts.FirstOrDefault(m => m.V1Controllers.Contains(controller));
            if (mount is null) return $"the {controller} controller has no v1 hierarchy mounted";
            string? own = membership.FirstOrDefault(e => e.Key.Split(',').Contains(controller)).Value;
            if (own is null) return $"this process has no {controller} entry in /proc/self/cgroup";
            string parent = Path.Combine(CgroupMounts.Join(mount.MountPoint, mount.Relative(own)), parentName);
            Directory.CreateDirectory(parent);
            parents[controller] = parent;
        }
        layout = new CgroupLayout(1, parents, parentName);
        return null;
    }

    private static void EnableControllers(string directory)
    {
        string current = File.ReadAllText(Path.Combine(directory, "cgroup.subtree_control"));
        var enabled = current.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string[] wanted = Controllers.Except(enabled).ToArray();
        if (wanted.Length > 0)
            File.WriteAllText(Path.Combine(directory, "cgroup.subtree_control"), string.Join(' ', wanted.Select(c => "+" + c)));
    }
}

/// <summary>The host has no cgroup hierarchy the daemon can confine VMMs with; the message says what is missing.</summary>
public sealed class CgroupUnavailableException(string message) : Exception(message);
