using Sharpvisor.Host.Confinement;

namespace Sharpvisor.Host.Tests.Confinement;

/// <summary>The mountinfo and /proc/PID/cgroup parsing behind <see cref="CgroupLayout"/>, on lines from real hosts of both kinds.</summary>
public sealed class CgroupMountsTests
{
    [Fact]
    public void A_v1_host_with_a_cgroup2_mount_lists_each_hierarchy_with_its_controllers()
    {
        var mounts = CgroupMounts.Read([
            "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
            "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct",
            "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
            "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
            "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
        ]);

        Assert.Equal(4, mounts.Count);
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", mounts.Single(m => m.V1Controllers.Contains("cpu")).MountPoint);
        Assert.Contains("cpuacct", mounts[0].V1Controllers);
        Assert.Equal("/sys/fs/cgroup/unified", mounts.Single(m => m.IsV2).MountPoint);
    }

    [Fact]
    public void A_v2_mount_of_a_subtree_maps_cgroup_paths_relative_to_its_root_and_unescapes_spaces()
    {
        var mount = CgroupMounts.Read(["29 23 0:26 /system.slice /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw,nsdelegate"]).Single();

        Assert.True(mount.IsV2);
        Assert.Equal("/sys/fs/cgroup x", mount.MountPoint);
        Assert.Equal("/sharpvisord.service", mount.Relative("/system.slice/sharpvisord.service"));
        Assert.Equal("/sys/fs/cgroup x/sharpvisord.service", CgroupMounts.Join(mount.MountPoint, mount.Relative("/system.slice/sharpvisord.service")));
    }

    [Fact]
    public void Membership_maps_each_hierarchys_controllers_to_the_path_and_v2_to_the_empty_key()
    {
        var membership = CgroupMounts.ReadMembership(["9:name=systemd:/", "4:memory:/process_api/41273593", "1:cpu,cpuacct:/", "0::/user.slice"]);

        Assert.Equal("/process_api/41273593", membership["memory"]);
        Assert.Equal("/", membership["cpu,cpuacct"]);
        Assert.Equal("/user.slice", membership[""]);
    }
}
