using System.Diagnostics;
using System.Text.Json;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>
/// VMs of a real daemon booting the default Debian guest (on the emulator, so on every host): console, pause,
/// snapshots, stop; concurrent actions; a VMM killed under it; the daemon killed under its VMs.
/// </summary>
public sealed class DaemonLifecycleTests : IDisposable
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(4);
    private readonly DaemonProcess _daemon = new();

    public void Dispose() => _daemon.Dispose();

    private async Task CreateDefaultGuest(string name, string restartPolicy = "no", string? disk = null)
    {
        var (status, body) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/instances",
            new { name, memory = "128M", engine = "emulator", restart_policy = restartPolicy, disks = disk is null ? Array.Empty<object>() : [new { path = disk }] });
        Assert.True(status == 201, body.ToString());
    }

    private async Task BootToReady(string name)
    {
        await _daemon.StartAsync(name);
        await _daemon.WaitForConsoleAsync(name, DefaultGuestImage.ReadyLinePrefix, Boot);
    }

    [Fact]
    public async Task A_VM_runs_commands_on_its_console_shows_its_counters_pauses_snapshots_restores_and_stops()
    {
        string disk = Path.Combine(_daemon.DiskRoot, "life.img");
        using (var file = File.Create(disk)) file.SetLength(8 << 20);
        await CreateDefaultGuest("life", disk: disk);
        await BootToReady("life");
        var running = await _daemon.GetAsync("/1.0/instances/life");
        Assert.Equal("running", running.GetProperty("status").GetString());
        Assert.True(running.GetProperty("resident_memory_bytes").GetUInt64() > 0);

        using (var console = await _daemon.OpenConsoleAsync("life"))
            Assert.Contains("HELLO-42", await DaemonProcess.TypeAsync(console, "echo HELLO-$((6*7))", "HELLO-42", TimeSpan.FromSeconds(60)));
        using (var console = await _daemon.OpenConsoleAsync("life"))
            await DaemonProcess.TypeAsync(console, "dd if=/dev/vda of=/dev/null bs=4096 count=300 && echo READ-$((5*5))", "READ-25", TimeSpan.FromSeconds(60));
        string metrics = await _daemon.Http.GetStringAsync("/metrics");
        double readBytes = MetricValue(metrics, "sharpvisor_instance_disk_bytes{instance=\"life\",disk=\"disk0\",direction=\"read\"}");
        Assert.True(readBytes >= 300 * 4096, $"disk0 read {readBytes} bytes:\n{metrics}");
        Assert.True(MetricValue(metrics, "sharpvisor_instance_vcpu_exits{instance=\"life\"}") > 0);
        Assert.True(MetricValue(metrics, "sharpvisor_instance_resident_bytes{instance=\"life\"}") > 16 << 20);

        Assert.Equal("paused", (await _daemon.SendAsync(HttpMethod.Put, "/1.0/instances/life/state", new { action = "pause" })).Body.GetProperty("metadata").GetProperty("status").GetString());
        Assert.Equal("running", (await _daemon.SendAsync(HttpMethod.Put, "/1.0/instances/life/state", new { action = "resume" })).Body.GetProperty("metadata").GetProperty("status").GetString());

        using (var console = await _daemon.OpenConsoleAsync("life"))
            await DaemonProcess.TypeAsync(console, "echo before-snapshot > /tmp/mark; echo MARK$((1+1))ED", "MARK2ED", TimeSpan.FromSeconds(60));
        var snapshot = await _daemon.RunOperationAsync(HttpMethod.Post, "/1.0/instances/life/snapshots", new { name = "s1" }, TimeSpan.FromMinutes(3));
        Assert.Equal("success", snapshot.GetProperty("status").GetString());
        var snapshots = await _daemon.GetAsync("/1.0/instances/life/snapshots");
        Assert.True(snapshots[0].GetProperty("complete").GetBoolean());

        using (var console = await _daemon.OpenConsoleAsync("life"))
            await DaemonProcess.TypeAsync(console, "echo after-snapshot > /tmp/mark; echo CHANG$((2+2))ED", "CHANG4ED", TimeSpan.FromSeconds(60));
        int pidBefore = (await _daemon.GetAsync("/1.0/instances/life")).GetProperty("pid").GetInt32();
        var restore = await _daemon.RunOperationAsync(HttpMethod.Post, "/1.0/instances/life/snapshots/s1/restore", null, TimeSpan.FromMinutes(3));
        Assert.True(restore.GetProperty("status").GetString() == "success", restore.ToString());
        var restored = await _daemon.GetAsync("/1.0/instances/life");
        Assert.Equal("running", restored.GetProperty("status").GetString());
        Assert.NotEqual(pidBefore, restored.GetProperty("pid").GetInt32());
        using (var console = await _daemon.OpenConsoleAsync("life"))
            Assert.Contains("before-snapshot", await DaemonProcess.TypeAsync(console, "cat /tmp/mark", "before-snapshot", TimeSpan.FromSeconds(60)));

        var stop = await _daemon.RunOperationAsync(HttpMethod.Put, "/1.0/instances/life/state", new { action = "stop" }, TimeSpan.FromMinutes(2));
        Assert.Equal("success", stop.GetProperty("status").GetString());
        var stopped = await _daemon.GetAsync("/1.0/instances/life");
        Assert.Equal("stopped", stopped.GetProperty("status").GetString());
        Assert.False(stopped.TryGetProperty("pid", out _));
        Assert.Empty(_daemon.VmmPids());
        // A stop without force pressed the power button and the guest powered itself off; the console log outlives the VMM.
        string log = await _daemon.ConsoleLogAsync("life");
        Assert.Contains(GuestInitScript.PowerButtonLine, log);
        Assert.Contains("HELLO-42", log);
    }

    [Fact]
    public async Task Two_starts_at_once_one_runs_and_the_other_gets_409()
    {
        await CreateDefaultGuest("twice");
        var first = _daemon.SendAsync(HttpMethod.Put, "/1.0/instances/twice/state", new { action = "start" });
        var second = _daemon.SendAsync(HttpMethod.Put, "/1.0/instances/twice/state", new { action = "start" });
        var replies = await Task.WhenAll(first, second);
        Assert.Equal([202, 409], replies.Select(r => r.Status).Order().ToArray());
        var accepted = replies.Single(r => r.Status == 202).Body;
        var refused = replies.Single(r => r.Status == 409).Body;
        Assert.Contains("twice", refused.GetProperty("error").GetString());
        var done = await _daemon.WaitAsync(accepted.GetProperty("operation").GetString()!, Boot);
        Assert.Equal("success", done.GetProperty("status").GetString());
        Assert.Single(_daemon.VmmPids());
    }

    [Fact]
    public async Task A_VMM_killed_with_SIGKILL_is_marked_crashed_with_the_reason_and_restarted_under_on_failure()
    {
        await CreateDefaultGuest("phoenix", "on-failure");
        await BootToReady("phoenix");
        int first = (await _daemon.GetAsync("/1.0/instances/phoenix")).GetProperty("pid").GetInt32();
        using var events = await _daemon.OpenEventsAsync();
        Process.GetProcessById(first).Kill();
        var crashed = await DaemonProcess.NextEventAsync(events, "instance-crashed", TimeSpan.FromSeconds(30));
        Assert.Contains("killed by signal 9 (SIGKILL)", crashed.GetProperty("message").GetString());
        await DaemonProcess.NextEventAsync(events, "instance-started", Boot);
        var after = await _daemon.GetAsync("/1.0/instances/phoenix");
        Assert.Equal("running", after.GetProperty("status").GetString());
        Assert.NotEqual(first, after.GetProperty("pid").GetInt32());
    }

    [Fact]
    public async Task A_daemon_killed_with_SIGKILL_leaves_its_VMs_running_and_a_new_daemon_adopts_them()
    {
        await CreateDefaultGuest("stay");
        await BootToReady("stay");
        int vmm = (await _daemon.GetAsync("/1.0/instances/stay")).GetProperty("pid").GetInt32();
        _daemon.KillDaemonOnly();
        Assert.Equal([vmm], _daemon.VmmPids());
        using var again = new DaemonProcess(_daemon.Root);
        var adopted = await again.GetAsync("/1.0/instances/stay");
        Assert.Equal("running", adopted.GetProperty("status").GetString());
        Assert.Equal(vmm, adopted.GetProperty("pid").GetInt32());
        using (var console = await again.OpenConsoleAsync("stay"))
            Assert.Contains("ADOPTED-7", await DaemonProcess.TypeAsync(console, "echo ADOPTED-$((3+4))", "ADOPTED-7", TimeSpan.FromSeconds(60)));
        var stop = await again.RunOperationAsync(HttpMethod.Put, "/1.0/instances/stay/state", new { action = "stop", force = true }, TimeSpan.FromMinutes(1));
        Assert.Equal("success", stop.GetProperty("status").GetString());
        Assert.Empty(again.VmmPids());
    }

    [Fact]
    public async Task A_daemon_killed_in_the_middle_of_a_snapshot_finds_the_truth_when_it_starts_again()
    {
        await CreateDefaultGuest("snappy");
        await BootToReady("snappy");
        var (status, _) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/instances/snappy/snapshots", new { name = "cut" });
        Assert.Equal(202, status);
        _daemon.KillDaemonOnly(); // the record says "being written"; the VMM may or may not finish writing it
        await Task.Delay(TimeSpan.FromSeconds(5));
        using var again = new DaemonProcess(_daemon.Root);
        string folder = Path.Combine(_daemon.StateDirectory, "vms", "snappy", "snapshots");
        var listed = (await again.GetAsync("/1.0/instances/snappy/snapshots")).EnumerateArray().ToArray();
        // Either the snapshot was whole (then it is listed, complete, and restorable) or it is gone, record and folder.
        Assert.All(listed, s => Assert.True(s.GetProperty("complete").GetBoolean()));
        Assert.Equal(listed.Select(s => s.GetProperty("name").GetString()).Order(), Directory.GetDirectories(folder).Select(Path.GetFileName).Order());
        if (listed.Length == 1)
        {
            var restore = await again.RunOperationAsync(HttpMethod.Post, "/1.0/instances/snappy/snapshots/cut/restore", null, TimeSpan.FromMinutes(3));
            Assert.True(restore.GetProperty("status").GetString() == "success", restore.ToString());
        }
        Assert.Equal("running", await again.StatusAsync("snappy"));
    }

    private static double MetricValue(string metrics, string series)
    {
        var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"no {series} in\n{metrics}");
        return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }
}
