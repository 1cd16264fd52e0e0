using System.Collections.Concurrent;
using System.Diagnostics;
using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Networks;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Host.Confinement;

/// <summary>
/// The daemon's launcher when it can confine (root, cgroups, util-linux): each VMM gets a uid of its own from
/// <see cref="VmmIdentityPool"/>, a cgroup with its vCPUs' CPU quota, guest memory + <see cref="VmmMemoryBudget"/> and a
/// pids limit, and a jail in which only its own files exist (<see cref="VmmLauncher"/>). Cgroups and jails are named per
/// daemon (by its state directory), so two daemons on one host may each have a VM of the same name.
/// </summary>
public sealed class ConfinedVmmLauncher : IVmmLauncher
{
    private readonly VmmLauncher _launcher;
    private readonly VmmIdentityPool _identities = new();
    private readonly IReadOnlyList<string> _runtimePaths;
    private readonly ConcurrentDictionary<int, ConfinedVmm> _running = new(); // by pid
    private readonly long _memoryOverheadBytes;

    private ConfinedVmmLauncher(VmmLauncher launcher, IReadOnlyList<string> runtimePaths, long memoryOverheadBytes)
    {
        _launcher = launcher;
        _runtimePaths = runtimePaths;
        _memoryOverheadBytes = memoryOverheadBytes;
    }

    /// <summary>
    /// A launcher for the daemon whose state is in <paramref name="stateDirectory"/>, whose VMMs may each use
    /// <paramref name="memoryOverheadBytes"/> beyond their guest's RAM; null and why when this host cannot confine.
    /// </summary>
    public static ConfinedVmmLauncher? TryCreate(string stateDirectory, IReadOnlyList<string> vmmCommand, long memoryOverheadBytes, out string? why)
    {
        why = !Environment.IsPrivilegedProcess ? "the daemon does not run as root" : HostTools.WhyMissing();
        if (why is not null) return null;
        string id = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(stateDirectory))))[..8];
        try
        {
            var layout = CgroupLayout.Detect($"sharpvisor-{id}");
            // The runtime and our build: the VMM is `dotnet sharpvisor.dll run`, whose files must exist in its jail.
            var runtime = vmmCommand.Where(File.Exists).Select(p => Path.GetDirectoryName(Path.GetFullPath(p))!)
                .Append(Path.GetDirectoryName(typeof(object).Assembly.Location)!).Distinct()
                .Where(p => !p.StartsWith("/usr/", StringComparison.Ordinal)).ToArray();
            return new ConfinedVmmLauncher(new VmmLauncher(layout, $"/run/sharpvisor/jail-{id}"), runtime, memoryOverheadBytes);
        }
        catch (CgroupUnavailableException e)
        {
            why = e.Message;
            return null;
        }
    }

    public VmmProcess Launch(VmmLaunch launch)
    {
        var identity = _identities.Allocate(_running.Values.Where(v => !v.HasExited).Select(v => OwnerOf(v.Pid)).OfType<int>());
        // Persistent taps owned by the VMM's uid, so it attaches without CAP_NET_ADMIN; up, as the VMM cannot bring them up.
        foreach (var tap in launch.Taps) HostTap.Make(tap, identity.Uid, launch.TapBridges.GetValueOrDefault(tap));
        var vmm = _launcher.Launch(new VmmLaunchSpec
        {
            Name = launch.VmName, VmDirectory = launch.VmDirectory, Argv = launch.Command, LogFile = launch.LogPath,
            ReadablePaths = [.. launch.ReadablePaths, .. _runtimePaths], WritablePaths = launch.WritablePaths,
            Identity = identity,
            Limits = new VmmResourceLimits(launch.Vcpus, VmmMemoryBudget.LimitFor((long)launch.GuestMemoryBytes, _memoryOverheadBytes)) { CpuWeight = launch.CpuWeight },
        });
        return Track(vmm, identity.Uid);
    }

    public VmmProcess? Adopt(string name, VmmProcessInfo process)
    {
        if (process.Cgroup is null) return null;
        try { return Track(_launcher.Adopt(name, process.Pid, process.Cgroup), process.Uid); }
        catch (Exception e) when (e is InvalidOperationException or IOException) { return null; }
    }

    public string? EndCause(VmmProcessInfo process) =>
        _running.TryGetValue(process.Pid, out var vmm) && vmm.Exited.IsCompleted && vmm.Exited.Result.OomKilled ? vmm.Exited.Result.Reason : null;

    public void Release(VmmProcessInfo process)
    {
        if (!_running.TryRemove(process.Pid, out var vmm)) return;
        try { vmm.RemoveCgroup(); }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException) { }
        vmm.Dispose();
    }

    private VmmProcess Track(ConfinedVmm vmm, int? uid)
    {
        _running[vmm.Pid] = vmm;
        ulong ticks = ProcessIdentity.StartTicks(vmm.Pid) ?? 0;
        var exited = vmm.Exited.ContinueWith(t => t.Result switch
        {
            { Signal: { } signal } => 128 + signal,
            { ExitCode: { } code } => code,
            _ => (int?)null,
        }, TaskScheduler.Default);
        return VmmProcess.Watched(new VmmProcessInfo(vmm.Pid, ticks, vmm.CgroupPath, uid), exited, () => vmm.Kill());
    }

    private static int? OwnerOf(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("Uid:", StringComparison.Ordinal)) return int.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        catch (IOException) { }
        return null;
    }
}
