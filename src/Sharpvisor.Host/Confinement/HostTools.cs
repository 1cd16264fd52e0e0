namespace Sharpvisor.Host.Confinement;

/// <summary>
/// The programs the jail script runs before it becomes the VMM, with the Debian package of each. util-linux
/// (unshare, setpriv, pivot_root) and coreutils are Essential in Debian; mount (mount, umount) is Priority required
/// but can be removed, so it is checked like the others.
/// </summary>
public static class HostTools
{
    public static readonly IReadOnlyDictionary<string, string> Packages = new Dictionary<string, string>
    {
        ["sh"] = "dash", ["unshare"] = "util-linux", ["setpriv"] = "util-linux", ["pivot_root"] = "util-linux",
        ["mount"] = "mount", ["umount"] = "mount", ["mkdir"] = "coreutils", ["mknod"] = "coreutils",
        ["chown"] = "coreutils", ["ln"] = "coreutils", ["rmdir"] = "coreutils",
    };

    private static readonly string[] Directories = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>Why a VMM cannot be confined here (a missing program and its package), or null.</summary>
    public static string? WhyMissing()
    {
        var missing = Packages.Keys.Where(tool => Find(tool) is null).ToList();
        if (missing.Count == 0) return null;
        var packages = missing.Select(t => Packages[t]).Distinct();
        return $"confining a VMM needs {string.Join(", ", missing)} (Debian packages: {string.Join(" ", packages)}; apt-get install them)";
    }

    /// <summary>The absolute path of <paramref name="tool"/> in the system directories, or null.</summary>
    public static string? Find(string tool) =>
        Directories.Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    /// <summary>The path the jail script's PATH finds programs in.</summary>
    public static string SearchPath => "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}
