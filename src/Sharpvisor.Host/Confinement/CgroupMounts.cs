namespace Sharpvisor.Host.Confinement;

/// <summary>Parses the cgroup lines of /proc/PID/mountinfo and the membership lines of /proc/PID/cgroup.</summary>
internal static class CgroupMounts
{
    /// <summary>One cgroup mount: v2, or v1 with its controllers (from the super options, e.g. "rw,cpu,cpuacct").</summary>
    internal sealed record Mount(string Root, string MountPoint, bool IsV2, IReadOnlySet<string> V1Controllers)
    {
        /// <summary>A cgroup path from /proc/PID/cgroup, relative to this mount (mounts of a sub-tree have Root != "/").</summary>
        public string Relative(string cgroupPath) =>
            Root == "/" ? cgroupPath : cgroupPath.StartsWith(Root, StringComparison.Ordinal) ? cgroupPath[Root.Length..] : cgroupPath;
    }

    public static IReadOnlyList<Mount> Read(IEnumerable<string> mountinfo)
    {
        var mounts = new List<Mount>();
        foreach (string line in mountinfo)
        {
            // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (separator < 0 || fields.Length < separator + 4 || fields.Length < 5) continue;
            string type = fields[separator + 1];
            string root = Unescape(fields[3]), mountPoint = Unescape(fields[4]);
            if (type == "cgroup2") mounts.Add(new Mount(root, mountPoint, true, new HashSet<string>()));
            else if (type == "cgroup") mounts.Add(new Mount(root, mountPoint, false, fields[separator + 3].Split(',').ToHashSet()));
        }
        return mounts;
    }

    /// <summary>Controller list ("" for v2, "cpu,cpuacct", "memory", ...) -> the cgroup path.</summary>
    public static IReadOnlyDictionary<string, string> ReadMembership(IEnumerable<string> procCgroup)
    {
        var membership = new Dictionary<string, string>();
        foreach (string line in procCgroup)
        {
            string[] parts = line.Split(':', 3);
            if (parts.Length == 3) membership[parts[1]] = parts[2];
        }
        return membership;
    }

    public static string Join(string mountPoint, string cgroupPath) => mountPoint.TrimEnd('/') + "/" + cgroupPath.TrimStart('/');

    // mountinfo escapes space, tab, newline and backslash as \ooo.
    private static string Unescape(string field)
    {
        if (!field.Contains('\\')) return field;
        var builder = new System.Text.StringBuilder();
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field.AsSpan(i + 1, 3)))
            {
                builder.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else builder.Append(field[i]);
        }
        return builder.ToString();
    }

    private static bool IsOctal(ReadOnlySpan<char> digits)
    {
        foreach (char c in digits) if (c is < '0' or > '7') return false;
        return true;
    }
}
