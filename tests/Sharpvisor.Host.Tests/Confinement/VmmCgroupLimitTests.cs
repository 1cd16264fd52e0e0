using Sharpvisor.Host.Confinement;

namespace Sharpvisor.Host.Tests.Confinement;

/// <summary>A confined VMM's cgroup: the limits the kernel holds, the OOM killer at the memory limit, removal after exit.</summary>
public sealed class VmmCgroupLimitTests
{
    [SkippableTheory]
    [InlineData(2, null, 250_000)]     // two vCPUs and half a core for the VMM's own threads
    [InlineData(4, 1.5, 150_000)]
    [InlineData(1, 3.0, 150_000)]
    public void The_cgroup_holds_the_cpu_quota_memory_and_pids_limits_asked_for(int vcpus, double? cap, long expectedQuota)
    {
        using var fixture = new ConfinementFixture();
        fixture.MakeVmDirectory("limits");
        var limits = new VmmResourceLimits(vcpus, MemoryLimitBytes: 100L << 20, PidsLimit: 77, CpuCapCores: cap);
        var vmm = fixture.Launch(fixture.Spec("limits", 3, ["/bin/sleep", "600"], limits));

        var (quota, period, memory, pids) = VmmCgroup.Open(vmm.CgroupPath).ReadLimits();

        Assert.Equal((expectedQuota, 100_000L, 100L << 20, 77L), (quota, period, memory, pids));
        Assert.False(vmm.HasExited);
    }

    [SkippableFact]
    public void The_cgroup_is_removed_after_the_exit_and_not_before()
    {
        using var fixture = new ConfinementFixture();
        fixture.MakeVmDirectory("removed");
        var vmm = fixture.Launch(fixture.Spec("removed", 4, ["/bin/sleep", "600"]));
        var directories = vmm.Cgroup.Directories.Values.Distinct().ToList();
        Assert.True(SpinUntil(() => vmm.Cgroup.Contains(vmm.Pid)), $"pid {vmm.Pid} never joined {vmm.CgroupPath}");

        Assert.Throws<InvalidOperationException>(vmm.RemoveCgroup);
        vmm.Kill();
        var exit = ConfinementFixture.WaitExit(vmm);
        vmm.RemoveCgroup();

        Assert.Equal("killed by signal 9 (SIGKILL)", exit.Reason);
        Assert.All(directories, d => Assert.False(Directory.Exists(d), $"{d} is still there"));
    }

    [SkippableFact]
    public void A_process_over_its_memory_limit_is_oom_killed_alone_and_the_reason_says_so()
    {
        using var fixture = new ConfinementFixture();
        fixture.MakeVmDirectory("hog");
        fixture.MakeVmDirectory("sibling");
        var sibling = fixture.Launch(fixture.Spec("sibling", 5, ["/bin/sleep", "600"]));
        // /dev/zero has no newline: tail keeps the one endless "last line" in memory until the limit stops it.
        var hog = fixture.Launch(fixture.Spec("hog", 6, ["/usr/bin/tail", "/dev/zero"],
            new VmmResourceLimits(Vcpus: 1, MemoryLimitBytes: 48L << 20, PidsLimit: 16)));

        var exit = ConfinementFixture.WaitExit(hog);

        Assert.True(exit.OomKilled, exit.Reason);
        Assert.Equal("killed by the kernel's OOM killer (memory limit 48 MiB)", exit.Reason);
        Assert.Equal(9, exit.Signal);
        Assert.False(sibling.HasExited, $"the sibling ended too: {(sibling.HasExited ? sibling.Exited.Result.Reason : "")}");
        Assert.Equal(0, sibling.Cgroup.OomKills());
        sibling.Kill();
        Assert.False(ConfinementFixture.WaitExit(sibling).OomKilled);
    }

    private static bool SpinUntil(Func<bool> condition) => SpinWait.SpinUntil(condition, TimeSpan.FromSeconds(30));
}
