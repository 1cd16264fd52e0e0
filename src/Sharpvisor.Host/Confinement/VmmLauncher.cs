using System.Runtime.InteropServices;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Host.Confinement;

/// <summary>
/// Starts VMM processes confined (cgroup, private mount namespace with a root of their own files, unprivileged user)
/// and detached (own session, stdin /dev/null, output to the VM's log), so they outlive the daemon; and adopts the
/// ones an earlier daemon started. <paramref name="jailBase"/> holds one empty directory per VM, the mount point of
/// its jail's root (the root exists only inside the VMM's namespace).
/// </summary>
public sealed class VmmLauncher(CgroupLayout cgroups, string jailBase = "/run/sharpvisor/jail")
{
    public CgroupLayout Cgroups { get; } = cgroups;
    public string JailBase { get; } = jailBase;

    /// <summary>Starts <paramref name="spec"/>'s VMM. Throws <see cref="ArgumentException"/> for a bad spec (naming the field), <see cref="IOException"/> for host failures.</summary>
    public ConfinedVmm Launch(VmmLaunchSpec spec)
    {
        Validate(spec);
        if (HostTools.WhyMissing() is { } missing) throw new IOException(missing);
        GrantOwnership(spec);
        var cgroup = VmmCgroup.Create(Cgroups, spec.Name);
        cgroup.Apply(spec.Limits);
        string jail = Path.Combine(JailBase, spec.Name);
        Directory.CreateDirectory(jail);
        string script = JailScript.Build(spec, jail, cgroup.ProcsFiles);
        string[] argv = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sharpvisor-jail", .. spec.Argv];
        var environment = new Dictionary<string, string>
        {
            ["PATH"] = HostTools.SearchPath, ["HOME"] = spec.VmDirectory, ["TMPDIR"] = "/tmp",
        };
        foreach (var (key, value) in spec.Environment) environment[key] = value;
        int pid;
        try
        {
            pid = Spawn(HostTools.Find("unshare")!, argv, environment.Select(e => $"{e.Key}={e.Value}"), spec.LogFile);
        }
        catch (IOException)
        {
            cgroup.Remove(TimeSpan.Zero); // nothing ran: leave no cgroup or mount point behind
            Directory.Delete(jail);
            throw;
        }
        int pidfd = Libc.pidfd_open(pid); // our unreaped child: the pid cannot have been reused yet
        if (pidfd < 0) throw new IOException($"pidfd_open({pid}): {Libc.LastErrorText()}");
        return new ConfinedVmm(spec.Name, pid, pidfd, cgroup, isChild: true, jail);
    }

    /// <summary>
    /// Takes over VM <paramref name="name"/>'s VMM started by an earlier daemon. The pid must be in every directory
    /// of <paramref name="cgroupPath"/> (checked after its pidfd is open, so a pid reused by another process is
    /// refused), and that cgroup must be VM <paramref name="name"/>'s. Throws <see cref="InvalidOperationException"/> otherwise.
    /// </summary>
    public ConfinedVmm Adopt(string name, int pid, string cgroupPath)
    {
        var cgroup = VmmCgroup.Open(cgroupPath);
        if (cgroup.Directories.Values.Any(d => Path.GetFileName(d) != name))
            throw new InvalidOperationException($"cgroup {cgroupPath} is not VM {name}'s");
        int pidfd = Libc.pidfd_open(pid);
        if (pidfd < 0)
            throw new InvalidOperationException($"VM {name}'s VMM (pid {pid}) is not running: {Libc.LastErrorText()}");
        if (!cgroup.Contains(pid))
        {
            Libc.close(pidfd);
            throw new InvalidOperationException($"pid {pid} is not VM {name}'s VMM: it is not in cgroup {cgroupPath}");
        }
        return new ConfinedVmm(name, pid, pidfd, cgroup, isChild: false, Path.Combine(JailBase, name));
    }

    private static void Validate(VmmLaunchSpec spec)
    {
        if (!VmmNames.IsValid(spec.Name)) throw new ArgumentException($"VM name '{spec.Name}': use 1-64 of letters, digits, '-', '_', '.'");
        if (spec.Argv.Count == 0 || !Path.IsPathRooted(spec.Argv[0])) throw new ArgumentException("argv: the first word must be an absolute path");
        if (spec.Identity.Uid <= 0 || spec.Identity.Gid <= 0)
            throw new ArgumentException($"identity {spec.Identity.Uid}:{spec.Identity.Gid}: a VMM never runs as root (uid or gid 0)");
        spec.Limits.Validate();
        foreach (var (field, path) in spec.ReadablePaths.Select(p => ("readable path", p))
                     .Concat(spec.WritablePaths.Select(p => ("writable path", p)))
                     .Append(("VM directory", spec.VmDirectory)).Append(("log file", spec.LogFile)))
        {
            if (!Path.IsPathRooted(path) || path.Split('/').Contains("..")) throw new ArgumentException($"{field} '{path}': must be absolute, without '..'");
            if (field != "log file" && !File.Exists(path) && !Directory.Exists(path)) throw new ArgumentException($"{field} '{path}' does not exist");
        }
        if (!Directory.Exists(spec.VmDirectory)) throw new ArgumentException($"VM directory '{spec.VmDirectory}' is not a directory");
        foreach (var (key, _) in spec.Environment)
            if (key.Length == 0 || key.Contains('=') || key.Contains('\0')) throw new ArgumentException($"environment variable name '{key}'");
        foreach (string path in spec.ReadablePaths) CheckReadable(path, spec.Identity);
    }

    // The jail's own directories lead to each path, so only the file's own mode matters, not its host parents'.
    private static void CheckReadable(string path, VmmIdentity identity)
    {
        var status = Libc.StatPath(path);
        uint need = status.IsDirectory ? 5u : 4u;
        bool readable = status.Uid == identity.Uid ? ((status.Mode >> 6) & need) == need
            : status.Gid == identity.Gid ? ((status.Mode >> 3) & need) == need
            : (status.Mode & need) == need;
        if (!readable)
            throw new ArgumentException($"readable path '{path}' (mode {Convert.ToString(status.Mode & 0xFFF, 8)}, owner {status.Uid}:{status.Gid}) " +
                                        $"cannot be read by the VMM's user {identity.Uid}:{identity.Gid}");
    }

    // The VM's directory and what it may write belong to its user; other VMs' files keep theirs, so even a path
    // that leaked into the jail would not open.
    private static void GrantOwnership(VmmLaunchSpec spec)
    {
        var (uid, gid) = (spec.Identity.Uid, spec.Identity.Gid);
        var paths = Directory.EnumerateFileSystemEntries(spec.VmDirectory, "*", SearchOption.AllDirectories)
            .Prepend(spec.VmDirectory).Concat(spec.WritablePaths);
        foreach (string path in paths)
            if (Libc.chown(path, uid, gid) != 0) throw new IOException($"chown {uid}:{gid} {path}: {Libc.LastErrorText()}");
    }

    private static unsafe int Spawn(string program, IReadOnlyList<string> argv, IEnumerable<string> environment, string logFile)
    {
        var strings = new List<nint>();
        byte* fileActions = (byte*)NativeMemory.AllocZeroed(Libc.SpawnFileActionsSize);
        byte* attributes = (byte*)NativeMemory.AllocZeroed(Libc.SpawnAttributesSize);
        byte* signals = stackalloc byte[Libc.SignalSetSize];
        try
        {
            byte* Utf8(string s)
            {
                nint p = Marshal.StringToCoTaskMemUTF8(s);
                strings.Add(p);
                return (byte*)p;
            }
            byte** Array(IReadOnlyList<string> items)
            {
                var array = (byte**)Marshal.AllocCoTaskMem((items.Count + 1) * sizeof(nint));
                strings.Add((nint)array);
                for (int i = 0; i < items.Count; i++) array[i] = Utf8(items[i]);
                array[items.Count] = null;
                return array;
            }
            Check(Libc.posix_spawn_file_actions_init(fileActions), "posix_spawn_file_actions_init");
            Check(Libc.posix_spawn_file_actions_addopen(fileActions, 0, Utf8("/dev/null"), Libc.ORdOnly, 0), "addopen /dev/null");
            Check(Libc.posix_spawn_file_actions_addopen(fileActions, 1, Utf8(logFile), Libc.OWrOnly | Libc.OCreate | Libc.OAppend, 0x1A0), "addopen log");
            Check(Libc.posix_spawn_file_actions_adddup2(fileActions, 1, 2), "adddup2");
            Check(Libc.posix_spawnattr_init(attributes), "posix_spawnattr_init");
            // A session of its own (no terminal signal from the daemon's), no signal blocked or ignored by the runtime.
            Check(Libc.posix_spawnattr_setflags(attributes,
                (short)(Libc.PosixSpawnSetSession | Libc.PosixSpawnSetSignalMask | Libc.PosixSpawnSetSignalDefault)), "setflags");
            Libc.sigemptyset(signals);
            Check(Libc.posix_spawnattr_setsigmask(attributes, signals), "setsigmask");
            Libc.sigfillset(signals);
            Check(Libc.posix_spawnattr_setsigdefault(attributes, signals), "setsigdefault");
            int error = Libc.posix_spawn(out int pid, Utf8(program), fileActions, attributes, Array(argv), Array(environment.ToList()));
            if (error != 0) throw new IOException($"posix_spawn {program}: {Libc.Describe(error)} (log {logFile})");
            return pid;
        }
        finally
        {
            Libc.posix_spawn_file_actions_destroy(fileActions);
            Libc.posix_spawnattr_destroy(attributes);
            NativeMemory.Free(fileActions);
            NativeMemory.Free(attributes);
            foreach (nint p in strings) Marshal.FreeCoTaskMem(p);
        }
    }

    private static void Check(int error, string what)
    {
        if (error != 0) throw new IOException($"{what}: {Libc.Describe(error)}");
    }
}
