using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>Many VMs under one daemon, and a VM moved live between two daemons.</summary>
public sealed class DaemonScaleTests
{
    [Fact]
    public async Task Eight_default_guests_run_at_once_are_listed_and_one_answers_on_its_console()
    {
        using var daemon = new DaemonProcess();
        string[] names = Enumerable.Range(1, 8).Select(i => $"vm{i}").ToArray();
        foreach (var name in names)
            Assert.Equal(201, (await daemon.SendAsync(HttpMethod.Post, "/1.0/instances", new { name, memory = "128M", engine = "emulator" })).Status);
        var starts = await Task.WhenAll(names.Select(name => daemon.SendAsync(HttpMethod.Put, $"/1.0/instances/{name}/state", new { action = "start" })));
        Assert.All(starts, s => Assert.Equal(202, s.Status));
        foreach (var start in starts)
            Assert.Equal("success", (await daemon.WaitAsync(start.Body.GetProperty("operation").GetString()!, TimeSpan.FromMinutes(3))).GetProperty("status").GetString());
        await Task.WhenAll(names.Select(name => daemon.WaitForConsoleAsync(name, DefaultGuestImage.ReadyLinePrefix, TimeSpan.FromMinutes(12))));

        var list = await daemon.GetAsync("/1.0/instances");
        Assert.Equal(names, list.EnumerateArray().Select(v => v.GetProperty("name").GetString()).Order().ToArray());
        Assert.All(list.EnumerateArray(), v => Assert.Equal("running", v.GetProperty("status").GetString()));
        Assert.Equal(8, daemon.VmmPids().Count);
        using (var console = await daemon.OpenConsoleAsync("vm5"))
            Assert.Contains("vm5-says-56", await DaemonProcess.TypeAsync(console, "echo vm5-says-$((7*8))", "vm5-says-56", TimeSpan.FromSeconds(120)));
        var host = await daemon.GetAsync("/1.0/host");
        Assert.Equal(8, host.GetProperty("running").GetInt32());
        Assert.True(host.GetProperty("vmm_resident_bytes").GetUInt64() > 8 * (16UL << 20));
    }

    [Fact]
    public async Task A_VM_migrates_live_to_another_daemon_keeps_its_state_and_is_gone_from_the_first()
    {
        using var source = new DaemonProcess();
        using var destination = new DaemonProcess();
        Assert.Equal(201, (await source.SendAsync(HttpMethod.Post, "/1.0/instances", new { name = "mover", memory = "128M", engine = "emulator" })).Status);
        await source.StartAsync("mover");
        await source.WaitForConsoleAsync("mover", DefaultGuestImage.ReadyLinePrefix, TimeSpan.FromMinutes(4));
        using (var console = await source.OpenConsoleAsync("mover"))
            await DaemonProcess.TypeAsync(console, "echo carried-along > /tmp/luggage; echo PACK$((3*3))ED", "PACK9ED", TimeSpan.FromSeconds(60));

        var migrate = await source.RunOperationAsync(HttpMethod.Post, "/1.0/instances/mover/migrate", new
        {
            target = $"https://127.0.0.1:{destination.TcpPort}", token = destination.Token, fingerprint = await destination.FingerprintAsync(),
        }, TimeSpan.FromMinutes(5));
        Assert.True(migrate.GetProperty("status").GetString() == "success", $"{migrate}\nsource:\n{source.Output}\n{source.VmmLog("mover")}\ndestination:\n{destination.Output}\n{destination.VmmLog("mover")}");
        Assert.Equal(404, (await source.SendAsync(HttpMethod.Get, "/1.0/instances/mover")).Status);
        Assert.Empty(source.VmmPids());

        var arrived = await destination.GetAsync("/1.0/instances/mover");
        Assert.Equal("running", arrived.GetProperty("status").GetString());
        using (var console = await destination.OpenConsoleAsync("mover"))
            Assert.Contains("carried-along", await DaemonProcess.TypeAsync(console, "cat /tmp/luggage", "carried-along", TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public async Task A_migration_to_a_daemon_with_the_wrong_token_is_refused_and_the_VM_goes_on_here()
    {
        using var source = new DaemonProcess();
        using var destination = new DaemonProcess();
        Assert.Equal(201, (await source.SendAsync(HttpMethod.Post, "/1.0/instances", new { name = "homebody", memory = "128M", engine = "emulator" })).Status);
        await source.StartAsync("homebody");
        var migrate = await source.RunOperationAsync(HttpMethod.Post, "/1.0/instances/homebody/migrate", new
        {
            target = $"https://127.0.0.1:{destination.TcpPort}", token = "not-the-token", fingerprint = await destination.FingerprintAsync(),
        }, TimeSpan.FromMinutes(2));
        Assert.Equal("failure", migrate.GetProperty("status").GetString());
        Assert.Contains("bearer token", migrate.GetProperty("error").GetString());
        Assert.Equal("running", await source.StatusAsync("homebody"));
        Assert.Empty((await destination.GetAsync("/1.0/instances")).EnumerateArray());
    }
}
