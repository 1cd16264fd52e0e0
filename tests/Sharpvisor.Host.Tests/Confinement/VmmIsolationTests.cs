using Sharpvisor.Host.Confinement;

namespace Sharpvisor.Host.Tests.Confinement;

/// <summary>What a confined VMM process can see and open: its own files, never another VM's.</summary>
public sealed class VmmIsolationTests
{
    [SkippableFact]
    public void A_confined_process_cannot_see_or_read_another_vms_disk()
    {
        using var fixture = new ConfinementFixture();
        string own = fixture.MakeVmDirectory("vm-a"), other = fixture.MakeVmDirectory("vm-b");
        string ownDisk = Path.Combine(own, "disk.img"), otherDisk = Path.Combine(other, "disk.img");
        string script =
            $"if [ -e '{otherDisk}' ] || [ -e '{other}' ]; then echo other-visible; else echo other-hidden; fi; " +
            $"cat '{otherDisk}' >/dev/null 2>&1 && echo other-opened || echo other-not-opened; " +
            $"head -n 1 '{ownDisk}'; echo written > '{own}/new-file' && echo own-writable; " +
            "echo uid=$(id -u) gid=$(id -g); grep -E '^(CapEff|CapBnd|NoNewPrivs|Groups):' /proc/self/status; " +
            "echo dev: $(ls /dev); [ -e /dev/net/tun ] && stat -c 'tun %u %a' /dev/net/tun; echo root: $(ls /)";
        var spec = fixture.Spec("vm-a", 1, ["/bin/sh", "-c", script]);

        var exit = ConfinementFixture.WaitExit(fixture.Launch(spec));

        string log = ConfinementFixture.Log(spec);
        Assert.True(exit.ExitCode == 0, $"{exit.Reason}; log:\n{log}");
        Assert.Contains("other-hidden", log);
        Assert.Contains("other-not-opened", log);
        Assert.Contains("vm-a", log.Split('\n'));
        Assert.Contains("own-writable", log);
        Assert.Contains($"uid={ConfinementFixture.FirstUid + 1} gid={ConfinementFixture.FirstUid + 1}", log);
        Assert.Matches(@"CapEff:\s+0000000000000000", log);
        Assert.Matches(@"CapBnd:\s+0000000000000000", log);
        Assert.Matches(@"NoNewPrivs:\s+1", log);
        Assert.Matches(@"Groups:\s*\n", log);
        Assert.True(log.Contains("root: bin dev etc lib lib64 proc sbin tmp usr\n"), log); // and the VM's own path (under /tmp here), nothing else
        Assert.Matches(@"dev: .*\bnull\b.*\burandom\b", log);
        // The host's tun device (root's, 0600 here) is the VM user's own node in the jail, as the jailer makes it.
        if (File.Exists("/dev/net/tun")) Assert.Contains($"tun {ConfinementFixture.FirstUid + 1} 600", log);
        else Assert.DoesNotContain("tun ", log);
    }

    [SkippableFact]
    public void Another_vms_disk_is_owned_by_that_vm_and_a_spec_naming_it_as_readable_is_refused()
    {
        using var fixture = new ConfinementFixture();
        fixture.MakeVmDirectory("vm-a");
        string other = fixture.MakeVmDirectory("vm-b");
        var bSpec = fixture.Spec("vm-b", 2, ["/bin/true"]);
        ConfinementFixture.WaitExit(fixture.Launch(bSpec)); // chowns vm-b's files to its user
        var otherDisk = Path.Combine(other, "disk.img");

        var aSpec = fixture.Spec("vm-a", 1, ["/bin/true"]) with { ReadablePaths = [otherDisk] };
        var refusal = Assert.Throws<ArgumentException>(() => fixture.Launcher.Launch(aSpec));

        Assert.Contains(otherDisk, refusal.Message);
        Assert.Contains("cannot be read by the VMM's user", refusal.Message);
    }
}
