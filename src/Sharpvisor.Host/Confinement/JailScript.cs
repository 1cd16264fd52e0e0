using System.Text;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Host.Confinement;

/// <summary>
/// The /bin/sh script that turns a fresh process into a confined VMM, run by `unshare --mount` so that every mount is
/// private to it. The runtime is multithreaded, so none of this can happen between fork and exec in .NET; the script
/// is one thread and execs the VMM last, keeping the pid. In order: join the VM's cgroup; build a root on a tmpfs
/// (the system's /usr read-only, each readable path read-only and each writable path read-write at its own absolute
/// path, a /dev with only null, zero, full, random, urandom, and kvm and net/tun owned by the VM's user, a /proc and a
/// private /tmp); pivot_root into it and detach the old root, so no other host file (another VM's directory or disk)
/// has a name in there; then setpriv to the VM's uid/gid with no groups, no_new_privs, no capabilities.
/// </summary>
internal static class JailScript
{
    private static readonly string[] SystemTopLevel = ["/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"];
    private static readonly string[] SystemFiles = ["/etc/ld.so.cache", "/etc/localtime"];
    private static readonly (string Name, bool Private)[] Devices =
        [("null", false), ("zero", false), ("full", false), ("random", false), ("urandom", false), ("kvm", true), ("net/tun", true)];

    public static string Build(VmmLaunchSpec spec, string jailDirectory, IEnumerable<string> cgroupProcsFiles)
    {
        var s = new StringBuilder();
        s.AppendLine("set -eu");
        s.AppendLine("umask 022");
        foreach (string procs in cgroupProcsFiles) s.AppendLine($"echo $$ > {Q(procs)}");
        string root = jailDirectory;
        s.AppendLine($"mount -t tmpfs -o mode=0755,size=1m,nosuid,nodev sharpvisor-root {Q(root)}");
        AppendSystem(s, root);
        AppendDevices(s, root, spec.Identity);
        s.AppendLine($"mkdir -p {Q(root + "/proc")} {Q(root + "/tmp")}");
        s.AppendLine($"mount -t proc -o nosuid,nodev,noexec proc {Q(root + "/proc")}");
        s.AppendLine($"mount -t tmpfs -o mode=1777,size=64m,nosuid,nodev sharpvisor-tmp {Q(root + "/tmp")}");
        // After /tmp's tmpfs, so a VM directory under /tmp is bound on top of it, not hidden by it.
        foreach (var bind in Binds(spec)) AppendBind(s, root, bind.Path, bind.Writable, bind.InsideEarlierBind);
        s.AppendLine($"cd {Q(root)}");
        s.AppendLine("mkdir .old-root");
        s.AppendLine("pivot_root . .old-root");
        s.AppendLine("cd /");
        s.AppendLine("umount -l /.old-root");
        s.AppendLine("rmdir /.old-root");
        s.AppendLine("mount -o remount,bind,ro,nosuid,nodev /");
        s.AppendLine($"cd {Q(spec.VmDirectory)}");
        var identity = spec.Identity;
        s.AppendLine($"exec setpriv --reuid={identity.Uid} --regid={identity.Gid} --clear-groups --no-new-privs " +
                     "--inh-caps=-all --bounding-set=-all -- \"$@\"");
        return s.ToString();
    }

    /// <summary>Single-quotes a word for sh.</summary>
    public static string Q(string word) => "'" + word.Replace("'", "'\\''") + "'";

    /// <summary>
    /// The VM's own bind mounts, parents before children. A path inside an earlier bind already exists in the jail
    /// (it is the same host file), so it gets no mount point; one that would add nothing (read-only inside anything,
    /// or writable inside writable) is left out.
    /// </summary>
    internal static IEnumerable<(string Path, bool Writable, bool InsideEarlierBind)> Binds(VmmLaunchSpec spec)
    {
        var wanted = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (string path in spec.ReadablePaths) wanted.TryAdd(Normalize(path), false);
        foreach (string path in spec.WritablePaths.Append(spec.VmDirectory)) wanted[Normalize(path)] = true;
        var done = new List<(string Path, bool Writable)> { ("/usr", false) }; // the system's, bound first
        foreach (var (path, writable) in wanted.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            var parent = done.LastOrDefault(d => IsInside(path, d.Path));
            bool inside = parent.Path is not null;
            if (inside && (parent.Writable || !writable)) continue;
            done.Add((path, writable));
            yield return (path, writable, inside);
        }
    }

    private static void AppendSystem(StringBuilder s, string root)
    {
        AppendBind(s, root, "/usr", writable: false, insideEarlierBind: false);
        foreach (string top in SystemTopLevel)
        {
            var info = new DirectoryInfo(top);
            if (info.LinkTarget is { } target) s.AppendLine($"ln -s {Q(target)} {Q(root + top)}");
            else if (info.Exists) AppendBind(s, root, top, writable: false, insideEarlierBind: false);
        }
        foreach (string file in SystemFiles.Where(File.Exists))
            AppendBind(s, root, file, writable: false, insideEarlierBind: false);
    }

    private static void AppendBind(StringBuilder s, string root, string path, bool writable, bool insideEarlierBind)
    {
        string target = Q(root + path);
        if (!insideEarlierBind)
        {
            if (Directory.Exists(path)) s.AppendLine($"mkdir -p {target}");
            else s.AppendLine($"mkdir -p {Q(root + Path.GetDirectoryName(path))} && {{ [ -e {target} ] || : > {target}; }}");
        }
        s.AppendLine($"mount --bind {Q(path)} {target}");
        s.AppendLine($"mount -o remount,bind,{(writable ? "rw" : "ro")},nosuid,nodev {target}");
    }

    private static void AppendDevices(StringBuilder s, string root, VmmIdentity identity)
    {
        s.AppendLine($"mkdir -p {Q(root + "/dev")}");
        s.AppendLine($"mount -t tmpfs -o mode=0755,size=64k,nosuid sharpvisor-dev {Q(root + "/dev")}");
        foreach (var (name, isPrivate) in Devices)
        {
            string host = "/dev/" + name;
            if (!File.Exists(host)) continue;
            var status = Libc.StatPath(host);
            if (!status.IsCharacterDevice) continue;
            string target = Q(root + host);
            if (name.Contains('/')) s.AppendLine($"mkdir -p {Q(root + Path.GetDirectoryName(host))}");
            // The VM's devices belong to its user, as the jailer does it: no group or ACL on the host's node needed.
            s.AppendLine($"mknod -m {(isPrivate ? "0600" : "0666")} {target} c {status.DeviceMajor} {status.DeviceMinor}");
            if (isPrivate) s.AppendLine($"chown {identity.Uid}:{identity.Gid} {target}");
        }
        foreach (var (link, to) in new[] { ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2") })
            s.AppendLine($"ln -s {to} {Q(root + "/dev/" + link)}");
    }

    private static string Normalize(string path) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));

    private static bool IsInside(string path, string directory) =>
        path.StartsWith(directory + "/", StringComparison.Ordinal) || directory == "/";
}
