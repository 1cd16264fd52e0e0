using Sharpvisor.Host.Confinement;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Host.Tests.Confinement;

/// <summary>
/// A temporary state directory (vms/NAME per VM, each with a disk), a jail base, and a cgroup parent of its own
/// (named per test, so runs by others on this host never meet), all removed at the end. Skips where the host cannot
/// confine: not root, no cgroup with cpu, memory and pids, or a missing util-linux/mount program.
/// </summary>
internal sealed class ConfinementFixture : IDisposable
{
    public const int FirstUid = 990_100;
    private readonly List<ConfinedVmm> _vmms = [];

    public ConfinementFixture()
    {
        Skip.If(GetEuid() != 0, "needs root: only root can make cgroups, mount namespaces and drop to another uid");
        string? missing = HostTools.WhyMissing();
        Skip.If(missing is not null, missing);
        string parent = "sharpvisor-test-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            Layout = CgroupLayout.Detect(parent);
        }
        catch (CgroupUnavailableException e)
        {
            throw new SkipException("needs cgroups with the cpu, memory and pids controllers: " + e.Message);
        }
        StateDirectory = Directory.CreateTempSubdirectory("sharpvisor-confine-").FullName;
        Libc.chown(StateDirectory, 0, 0);
        File.SetUnixFileMode(StateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Launcher = new VmmLauncher(Layout, Path.Combine(StateDirectory, "jail"));
    }

    public CgroupLayout Layout { get; }
    public string StateDirectory { get; }
    public VmmLauncher Launcher { get; }

    /// <summary>state/vms/NAME with a 1 MiB disk.img holding <paramref name="name"/> repeated.</summary>
    public string MakeVmDirectory(string name)
    {
        string directory = Path.Combine(StateDirectory, "vms", name);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "disk.img"), string.Concat(Enumerable.Repeat(name + "\n", 1000)));
        File.SetUnixFileMode(Path.Combine(directory, "disk.img"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return directory;
    }

    public VmmLaunchSpec Spec(string name, int uidOffset, IReadOnlyList<string> argv, VmmResourceLimits? limits = null) => new()
    {
        Name = name,
        VmDirectory = Path.Combine(StateDirectory, "vms", name),
        Argv = argv,
        LogFile = Path.Combine(StateDirectory, "vms", name, "vmm.log"),
        Identity = new VmmIdentity(FirstUid + uidOffset, FirstUid + uidOffset),
        Limits = limits ?? new VmmResourceLimits(Vcpus: 1, MemoryLimitBytes: 64L << 20, PidsLimit: 64),
    };

    public ConfinedVmm Launch(VmmLaunchSpec spec) => Track(Launcher.Launch(spec));

    public ConfinedVmm Track(ConfinedVmm vmm)
    {
        _vmms.Add(vmm);
        return vmm;
    }

    public static string Log(VmmLaunchSpec spec) => File.ReadAllText(spec.LogFile);

    /// <summary>Waits for the exit (a hung test fails after <paramref name="seconds"/> rather than hanging the run).</summary>
    public static VmmExit WaitExit(ConfinedVmm vmm, int seconds = 120)
    {
        if (!vmm.Exited.Wait(TimeSpan.FromSeconds(seconds)))
            throw new TimeoutException($"VMM {vmm.Name} (pid {vmm.Pid}) still runs after {seconds} s");
        return vmm.Exited.Result;
    }

    public void Dispose()
    {
        foreach (var vmm in _vmms)
        {
            if (!vmm.HasExited) vmm.Kill();
            try
            {
                vmm.Exited.Wait(TimeSpan.FromSeconds(30));
                vmm.RemoveCgroup();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or AggregateException)
            {
                Console.Error.WriteLine($"cleanup of VMM {vmm.Name}: {e.Message}");
            }
            vmm.Dispose();
        }
        foreach (string parent in Layout.ParentDirectories.Values.Distinct())
            if (Directory.Exists(parent) && !Directory.EnumerateDirectories(parent).Any()) Directory.Delete(parent);
        Directory.Delete(StateDirectory, recursive: true);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern int GetEuid();
}
