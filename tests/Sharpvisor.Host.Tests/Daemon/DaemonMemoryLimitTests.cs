using System.Text.Json;
using Sharpvisor.Host.Confinement;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>
/// A confined VM that goes past its cgroup's memory limit is ended by the kernel's OOM killer, alone: the daemon marks
/// it crashed and says why, and a VM beside it goes on answering.
/// </summary>
public sealed class DaemonMemoryLimitTests
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(4);

    [SkippableFact]
    public async Task A_VM_past_its_memory_limit_is_the_only_one_stopped_and_the_daemon_says_why()
    {
        Skip.If(!Environment.IsPrivilegedProcess, "needs root: only root can confine VMMs in cgroups");
        string? missing = HostTools.WhyMissing();
        Skip.If(missing is not null, missing);
        // 256 MiB guests with 32 MiB for the VMM itself: a limit of 288 MiB. Booted and idle, a VMM is charged about
        // 170 MiB (the runtime's 57 and the guest's first 100); a guest that fills its RAM takes it past 320.
        using var daemon = new DaemonProcess(null, "--confine", "on", "--vmm-memory-overhead", "32M");
        foreach (string name in new[] { "hog", "bystander" })
        {
            var (status, body) = await daemon.SendAsync(HttpMethod.Post, "/1.0/instances", new { name, memory = "256M", engine = "emulator" });
            Assert.True(status == 201, body.ToString());
            await daemon.StartAsync(name);
        }
        foreach (string name in new[] { "hog", "bystander" }) await daemon.WaitForConsoleAsync(name, DefaultGuestImage.ReadyLinePrefix, Boot);

        using (var console = await daemon.OpenConsoleAsync("hog"))
        {
            // A tmpfs bigger than the guest's RAM: dd writes until every page of guest memory has been touched.
            await console.SendAsync("mount -t tmpfs -o size=400m fill /mnt && dd if=/dev/zero of=/mnt/f bs=1M count=400\n"u8.ToArray(),
                System.Net.WebSockets.WebSocketMessageType.Binary, true, CancellationToken.None);
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
            while (await daemon.StatusAsync("hog") == "running")
            {
                Assert.True(DateTime.UtcNow < deadline, $"hog still runs after filling its memory; console:\n{await daemon.ConsoleLogAsync("hog")}");
                await Task.Delay(500);
            }
        }

        JsonElement hog = await daemon.GetAsync("/1.0/instances/hog");
        Assert.Equal("crashed", hog.GetProperty("status").GetString());
        Assert.Equal("killed by the kernel's OOM killer (memory limit 288 MiB)", hog.GetProperty("status_reason").GetString());
        Assert.Equal("running", await daemon.StatusAsync("bystander"));
        using var other = await daemon.OpenConsoleAsync("bystander");
        Assert.Contains("ALIVE-42", await DaemonProcess.TypeAsync(other, "echo ALIVE-$((6*7))", "ALIVE-42", TimeSpan.FromMinutes(1)));
    }
}
