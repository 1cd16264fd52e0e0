using System.Diagnostics;
using Sharpvisor.Host.Confinement;

namespace Sharpvisor.Host.Tests.Confinement;

/// <summary>A VMM outlives the daemon that started it, and a later daemon adopts it (and only it).</summary>
public sealed class VmmAdoptionTests
{
    [SkippableFact]
    public void A_detached_vmm_survives_its_starter_and_is_adopted_by_pid_and_cgroup()
    {
        using var fixture = new ConfinementFixture();
        string directory = fixture.MakeVmDirectory("adopted");
        fixture.MakeVmDirectory("bystander");
        var (pid, cgroupPath) = StartDetached(fixture, "adopted", directory, ConfinementFixture.FirstUid + 7);

        Assert.True(File.Exists($"/proc/{pid}/stat"), $"VMM pid {pid} did not survive its starter; log: {File.ReadAllText(Path.Combine(directory, "vmm.log"))}");
        string[] stat = File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1].Split(' ');
        Assert.Equal(pid.ToString(), stat[3]); // field 6, the session: its own
        Assert.Equal("/dev/null", new FileInfo($"/proc/{pid}/fd/0").LinkTarget);
        Assert.Equal(Path.Combine(directory, "vmm.log"), new FileInfo($"/proc/{pid}/fd/1").LinkTarget);

        Assert.Throws<InvalidOperationException>(() => fixture.Launcher.Adopt("adopted", Environment.ProcessId, cgroupPath));
        Assert.Throws<InvalidOperationException>(() => fixture.Launcher.Adopt("bystander", pid, cgroupPath));
        var vmm = fixture.Track(fixture.Launcher.Adopt("adopted", pid, cgroupPath));
        Assert.False(vmm.IsChild);
        Assert.False(vmm.HasExited);

        vmm.Kill();
        var exit = ConfinementFixture.WaitExit(vmm);

        Assert.False(exit.StatusKnown);
        Assert.False(exit.OomKilled);
        Assert.StartsWith("exited; its exit status is unknowable", exit.Reason);
        vmm.RemoveCgroup();
        Assert.All(vmm.Cgroup.Directories.Values, d => Assert.False(Directory.Exists(d)));
    }

    private static (int Pid, string CgroupPath) StartDetached(ConfinementFixture fixture, string name, string directory, int uid)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string arg in new[] { typeof(DetachedStarter).Assembly.Location, "start-detached", fixture.Layout.ParentName,
                     fixture.Launcher.JailBase, name, directory, uid.ToString() })
            start.ArgumentList.Add(arg);
        using var starter = Process.Start(start)!;
        string output = starter.StandardOutput.ReadToEnd(), errors = starter.StandardError.ReadToEnd();
        Assert.True(starter.WaitForExit(TimeSpan.FromSeconds(120)), "the starter did not exit");
        Assert.True(starter.ExitCode == 0, $"the starter failed ({starter.ExitCode}): {errors}");
        string[] words = output.Trim().Split(' ', 2);
        return (int.Parse(words[0]), words[1]);
    }
}
