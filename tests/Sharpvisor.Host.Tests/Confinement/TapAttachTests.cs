using System.Diagnostics;
using Sharpvisor.Host.Confinement;

namespace Sharpvisor.Host.Tests.Confinement;

/// <summary>
/// A confined VMM has no CAP_NET_ADMIN: the daemon makes a persistent tap owned by the VM's user, and the VMM
/// attaches to it (virtio-net on it) though it cannot create or configure interfaces itself.
/// </summary>
public sealed class TapAttachTests
{
    [SkippableFact]
    public void A_confined_vmm_attaches_to_a_persistent_tap_owned_by_its_user()
    {
        HostRequires.Tool("ip", "iproute2");
        using var fixture = new ConfinementFixture();
        string directory = fixture.MakeVmDirectory("tap-user");
        string cli = RealVmmTests.EnsureCli();
        string guests = Path.Combine(fixture.StateDirectory, "guests");
        Run("/usr/bin/dotnet", cli, "test-guests", "export", guests);
        string tap = "svc" + Guid.NewGuid().ToString("N")[..8];
        var spec = fixture.Spec("tap-user", 10, ["/usr/bin/dotnet", cli, "run", "--engine", "emulator", "--kernel", Path.Combine(guests, "hello.elf"),
            "--test-devices", "--net", $"tap={tap}", "--serial", "file:" + Path.Combine(directory, "serial.log")]) with
        {
            ReadablePaths = [Path.GetDirectoryName(cli)!, Path.Combine(guests, "hello.elf")],
        };
        Run("ip", "tuntap", "add", "dev", tap, "mode", "tap", "user", spec.Identity.Uid.ToString());
        try
        {
            var exit = ConfinementFixture.WaitExit(fixture.Launch(spec));

            Assert.True(exit.ExitCode == 0, $"{exit.Reason}; log: {ConfinementFixture.Log(spec)}");
            Assert.True(Directory.Exists($"/sys/class/net/{tap}"), "the persistent tap went away with the VMM");
        }
        finally
        {
            Run("ip", "tuntap", "del", "dev", tap, "mode", "tap");
        }
    }

    private static void Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string text = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: exit {process.ExitCode}: {text}");
    }
}
