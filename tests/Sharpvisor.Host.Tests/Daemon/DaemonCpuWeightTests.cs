using Sharpvisor.Host.Confinement;
using Xunit.Abstractions;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>CPU weights and pinning: two busy VMs pinned to one host CPU share it in the ratio of their weights.</summary>
public sealed class DaemonCpuWeightTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);

    [SkippableFact]
    public async Task Two_busy_VMs_on_one_host_CPU_with_weights_2_to_1_get_CPU_time_2_to_1()
    {
        Skip.If(!Environment.IsPrivilegedProcess, "needs root: weights are cgroup settings, and only root confines VMMs in cgroups");
        string? missing = HostTools.WhyMissing();
        Skip.If(missing is not null, missing);
        string cpu = (Environment.ProcessorCount - 1).ToString();
        using var daemon = new DaemonProcess(null, "--confine", "on");
        foreach (var (name, weight) in new[] { ("heavy", 200), ("light", 100) })
        {
            var (status, body) = await daemon.SendAsync(HttpMethod.Post, "/1.0/instances",
                new { name, memory = "128M", engine = "emulator", cpu_weight = weight, cpu_pin = cpu });
            Assert.True(status == 201, body.ToString());
            await daemon.StartAsync(name);
        }
        foreach (string name in new[] { "heavy", "light" })
        {
            await daemon.WaitForConsoleAsync(name, DefaultGuestImage.ReadyLinePrefix, Boot);
            int pid = (await daemon.GetAsync($"/1.0/instances/{name}")).GetProperty("pid").GetInt32();
            Assert.Contains($"Cpus_allowed_list:\t{cpu}\n", File.ReadAllText($"/proc/{pid}/status"));
            using var console = await daemon.OpenConsoleAsync(name);
            // A shell loop keeps the one vCPU busy: the VM wants all of the host CPU it is pinned to.
            await DaemonProcess.TypeAsync(console, "(while :; do :; done) & echo BUSY-$((6*7))", "BUSY-42", TimeSpan.FromMinutes(2));
        }
        await Task.Delay(TimeSpan.FromSeconds(3));                 // both loops running before the window opens
        var before = await CpuSeconds(daemon);
        await Task.Delay(TimeSpan.FromSeconds(12));
        var after = await CpuSeconds(daemon);
        double heavy = after.Heavy - before.Heavy, light = after.Light - before.Light;
        double ratio = heavy / light;
        output.WriteLine($"CPU time in 12 s on CPU {cpu}: heavy (weight 200) {heavy:0.00} s, light (weight 100) {light:0.00} s, ratio {ratio:0.00}");
        Assert.True(ratio is >= 1.8 and <= 2.2, $"heavy used {heavy:0.00} s and light {light:0.00} s of CPU in 12 s: {ratio:0.00} to 1, not 2 to 1 within 10 %");
    }

    private static async Task<(double Heavy, double Light)> CpuSeconds(DaemonProcess daemon) =>
        ((await daemon.GetAsync("/1.0/instances/heavy")).GetProperty("cpu_seconds").GetDouble(),
         (await daemon.GetAsync("/1.0/instances/light")).GetProperty("cpu_seconds").GetDouble());
}
