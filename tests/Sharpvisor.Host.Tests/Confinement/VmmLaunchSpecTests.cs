using Sharpvisor.Host.Confinement;

namespace Sharpvisor.Host.Tests.Confinement;

/// <summary>A bad launch description is refused naming the field, before any cgroup, jail or process exists.</summary>
public sealed class VmmLaunchSpecTests
{
    public static TheoryData<string, string> BadSpecs => new()
    {
        { "name", "VM name '../escape'" },
        { "root", "a VMM never runs as root" },
        { "relative", "readable path 'disk.img': must be absolute" },
        { "dotdot", "must be absolute, without '..'" },
        { "missing", "does not exist" },
        { "argv", "argv: the first word must be an absolute path" },
        { "vcpus", "vCPU count 0: must be at least 1" },
        { "memory", "memory limit 1048576 bytes: must be at least 16 MiB" },
        { "cap", "CPU cap 0 cores" },
        { "environment", "environment variable name 'A=B'" },
    };

    [SkippableTheory]
    [MemberData(nameof(BadSpecs))]
    public void A_bad_spec_is_refused_by_name_and_leaves_nothing_behind(string fault, string expected)
    {
        using var fixture = new ConfinementFixture();
        string directory = fixture.MakeVmDirectory("bad");
        var good = fixture.Spec("bad", 11, ["/bin/true"]);
        var spec = fault switch
        {
            "name" => good with { Name = "../escape" },
            "root" => good with { Identity = new VmmIdentity(0, 0) },
            "relative" => good with { ReadablePaths = ["disk.img"] },
            "dotdot" => good with { WritablePaths = [directory + "/../bad/disk.img"] },
            "missing" => good with { WritablePaths = [directory + "/nothing.img"] },
            "argv" => good with { Argv = ["true"] },
            "vcpus" => good with { Limits = good.Limits with { Vcpus = 0 } },
            "memory" => good with { Limits = good.Limits with { MemoryLimitBytes = 1 << 20 } },
            "cap" => good with { Limits = good.Limits with { CpuCapCores = 0 } },
            "environment" => good with { Environment = new Dictionary<string, string> { ["A=B"] = "c" } },
            _ => throw new ArgumentException(fault),
        };

        var refusal = Assert.Throws<ArgumentException>(() => fixture.Launcher.Launch(spec));

        Assert.Contains(expected, refusal.Message);
        Assert.All(fixture.Layout.ParentDirectories.Values, parent => Assert.Empty(Directory.EnumerateDirectories(parent)));
        Assert.False(Directory.Exists(Path.Combine(fixture.Launcher.JailBase, "bad")));
        Assert.Equal(0, Owner(directory));
    }

    [SkippableFact]
    public void A_process_that_cannot_start_leaves_no_cgroup_or_jail_behind()
    {
        using var fixture = new ConfinementFixture();
        fixture.MakeVmDirectory("unstartable");
        var spec = fixture.Spec("unstartable", 12, ["/bin/true"]) with { LogFile = "/nonexistent-sharpvisor-dir/vmm.log" };

        var failure = Assert.Throws<IOException>(() => fixture.Launcher.Launch(spec));

        Assert.Contains("/nonexistent-sharpvisor-dir/vmm.log", failure.Message);
        Assert.All(fixture.Layout.ParentDirectories.Values, parent => Assert.Empty(Directory.EnumerateDirectories(parent)));
        Assert.False(Directory.Exists(Path.Combine(fixture.Launcher.JailBase, "unstartable")));
    }

    private static int Owner(string path) => Sharpvisor.Machine.Native.Libc.StatPath(path).Uid;
}
