using System.Text.Json;
using Sharpvisor.Host.Resources;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>
/// The daemon's memory steward on real VMs: balloons inflate when the host's memory use passes the target and deflate
/// when it falls; KSM runs while a VM asks for it and is put back as it was found after.
/// </summary>
public sealed class DaemonMemoryStewardTests
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(4), Round = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Balloons_inflate_when_the_host_passes_its_target_and_deflate_when_the_pressure_falls()
    {
        // Use = 512 MiB of reserve + the VMMs' resident memory; the target is 80 % of 1250 MiB = 1000 MiB. Two idle
        // VMs hold about 190 MiB each (892 MiB in all: under it); the second one filling 250 MiB of its RAM takes
        // the host over; with it stopped, one VM (702 MiB) is under the 900 MiB where balloons deflate.
        using var daemon = new DaemonProcess(null, "--host-memory", "1250M", "--reserved-memory", "512M", "--balloon-target", "80", "--resource-interval", "1");
        await Create(daemon, new { name = "elastic", memory = "256M", engine = "emulator", balloon = true, balloon_min = "128M" });
        await Create(daemon, new { name = "pressure", memory = "384M", engine = "emulator" });
        using var events = await daemon.OpenEventsAsync();
        foreach (string name in new[] { "elastic", "pressure" }) await daemon.StartAsync(name);
        foreach (string name in new[] { "elastic", "pressure" }) await daemon.WaitForConsoleAsync(name, DefaultGuestImage.ReadyLinePrefix, Boot);
        string control = Path.Combine(daemon.StateDirectory, "vms", "elastic", "control.sock");
        Assert.Contains(" target-bytes=0 ", Stats(control));

        using (var console = await daemon.OpenConsoleAsync("pressure"))
            await DaemonProcess.TypeAsync(console, "mount -t tmpfs -o size=300m f /mnt && dd if=/dev/zero of=/mnt/f bs=1M count=250 2>/dev/null; echo FILLED-$((6*7))", "FILLED-42", Round);
        var inflated = await DaemonProcess.NextEventAsync(events, "balloon-inflated", Round);
        Assert.Equal("elastic", inflated.GetProperty("instance").GetString());
        Assert.Matches(@"^balloon inflated: the guest keeps \d+ of 256 MiB \(was 256\); host use \d+ MiB against a target of 1000 MiB$", inflated.GetProperty("message").GetString());
        // The guest's driver handed the pages in: the balloon holds them.
        await Until(() => !Stats(control).Contains(" actual-bytes=0 "), Round, () => Stats(control));

        (int status, JsonElement body) = await daemon.SendAsync(HttpMethod.Put, "/1.0/instances/pressure/state", new { action = "stop", force = true });
        Assert.True(status == 202, body.ToString());
        await DaemonProcess.NextEventAsync(events, "balloon-deflated", Round);
        await Until(() => Stats(control).Contains(" target-bytes=0 "), Round, () => Stats(control));
        Assert.Equal("running", await daemon.StatusAsync("elastic"));
    }

    [Fact]
    public async Task KSM_runs_while_VMs_ask_for_it_merges_four_identical_guests_and_is_put_back_as_it_was_found()
    {
        Skip.IfNot(KsmTuner.Available(MemorySteward.KsmSysfs), $"the host kernel has no KSM ({MemorySteward.KsmSysfs} is missing)");
        string Read(string key) => File.ReadAllText(Path.Combine(MemorySteward.KsmSysfs, key)).Trim();
        var found = (Run: Read("run"), Scan: Read("pages_to_scan"), Sleep: Read("sleep_millisecs"));
        using var daemon = new DaemonProcess(null, "--resource-interval", "1");
        string saved = Path.Combine(daemon.StateDirectory, "ksm-found");
        string[] names = ["merge1", "merge2", "merge3", "merge4"];
        foreach (string name in names) await Create(daemon, new { name, memory = "128M", engine = "emulator", ksm = true });
        Assert.True((await daemon.GetAsync("/1.0/instances/merge1")).GetProperty("ksm").GetBoolean());
        foreach (string name in names) await daemon.StartAsync(name);
        await Until(() => File.Exists(saved), Round, () => daemon.Output);
        Assert.Equal("1", Read("run"));
        Assert.Equal([$"run={found.Run}", $"pages_to_scan={found.Scan}", $"sleep_millisecs={found.Sleep}"], File.ReadAllLines(saved));
        Assert.Contains("KSM on", daemon.Output);
        foreach (string name in names) await daemon.WaitForConsoleAsync(name, DefaultGuestImage.ReadyLinePrefix, Boot);
        // Four copies of one kernel and initramfs: KSM finds at least 32 MiB of pages the same in all of them.
        await Until(() => long.Parse(Read("pages_sharing")) >= 8192, Boot, () => $"pages_sharing {Read("pages_sharing")}, pages_to_scan {Read("pages_to_scan")}");
        Assert.True(int.Parse(Read("pages_to_scan")) > KsmTuner.MinPagesToScan, $"merging paid but the scan rate stayed at {Read("pages_to_scan")}");

        foreach (string name in names)
        {
            (int status, JsonElement body) = await daemon.SendAsync(HttpMethod.Put, $"/1.0/instances/{name}/state", new { action = "stop", force = true });
            Assert.True(status == 202, body.ToString());
        }
        await Until(() => !File.Exists(saved), Round, () => daemon.Output);
        Assert.Equal(found, (Read("run"), Read("pages_to_scan"), Read("sleep_millisecs")));
    }

    private static async Task Create(DaemonProcess daemon, object request)
    {
        var (status, body) = await daemon.SendAsync(HttpMethod.Post, "/1.0/instances", request);
        Assert.True(status == 201, body.ToString());
    }

    private static string Stats(string control) => VmControlServer.Send(control, "balloon stats", TimeSpan.FromSeconds(10));

    private static async Task Until(Func<bool> condition, TimeSpan timeout, Func<string> state)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not reached in {timeout}: {state()}");
            await Task.Delay(250);
        }
    }
}
