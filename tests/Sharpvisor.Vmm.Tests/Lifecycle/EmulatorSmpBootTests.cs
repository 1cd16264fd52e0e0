using static Sharpvisor.Vmm.Tests.Lifecycle.ScriptedConsole;
using System.Security.Cryptography;
using System.Text;
using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>
/// Debian's kernel on the emulator with two vCPUs (two threads of one core, so the topology shows in /proc/cpuinfo),
/// 2 GiB of RAM, a reboot from the guest's shell and a poweroff: the application processor starts through INIT/SIPI
/// and the kernel's real-mode trampoline, both CPUs work (a hash computed while both run), the VM boots again after
/// the guest's reboot, and the guest's poweroff ends the run. One boot pair covers all of it, to keep the suite short.
/// </summary>
public sealed class EmulatorSmpBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Two_vcpus_and_2_GiB_boot_show_the_topology_reboot_on_request_and_power_off()
    {
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        var config = new VmConfig
        {
            KernelPath = image.KernelPath,
            InitrdPath = image.InitrdPath,
            CommandLine = DefaultGuestImage.SuggestedCommandLine,
            MemoryBytes = 2UL << 30,
            Topology = new CpuTopology(1, 1, 2),
        };
        var console = new ScriptedConsole();
        using var vm = new Vm(config, new EmulatorEngine(), console);
        var run = Task.Run(vm.Run);
        try
        {
            int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
            at = console.WaitFor("# ", at, CommandTimeout);

            var cpuinfo = Lines(console.Execute("cat /proc/cpuinfo", 1, ref at, CommandTimeout));
            Assert.Equal(2, cpuinfo.Count(l => l.StartsWith("processor")));
            Assert.Equal(2, cpuinfo.Count(l => Field(l, "siblings") == "2"));     // two logical processors per package
            Assert.Equal(2, cpuinfo.Count(l => Field(l, "cpu cores") == "1"));    // on one core
            Assert.Equal(2, cpuinfo.Count(l => Field(l, "physical id") == "0"));
            Assert.Equal(2, cpuinfo.Count(l => Field(l, "core id") == "0"));
            Assert.Contains(cpuinfo, l => Field(l, "apicid") == "1");

            var meminfo = Lines(console.Execute("grep MemTotal /proc/meminfo", 2, ref at, CommandTimeout));
            long totalKib = long.Parse(meminfo.Single(l => l.StartsWith("MemTotal")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            Assert.InRange(totalKib, 1_900_000, 2_097_152);

            // Work on both CPUs at once (two hashing jobs), and a result the host can check.
            var expected = new StringBuilder();
            for (int i = 1; i <= 3000; i++) expected.Append($"sharpvisor {i}\n");
            string hash = Convert.ToHexString(SHA256.HashData(Encoding.ASCII.GetBytes(expected.ToString()))).ToLowerInvariant();
            var sha = Lines(console.Execute("printf 'sharpvisor %s\\n' $(seq 1 3000) > /root/data; sha256sum /root/data > /root/a & sha256sum /root/data > /root/b; wait; cat /root/a /root/b", 3, ref at, CommandTimeout));
            Assert.Equal(2, sha.Count(l => l == $"{hash}  /root/data"));
            var interrupts = Lines(console.Execute("grep -E 'LOC|CAL' /proc/interrupts", 4, ref at, CommandTimeout));
            Assert.Contains(interrupts, l => l.StartsWith("LOC:") && CountsOnBothCpus(l));

            console.Type("reboot\n");
            at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, at, BootTimeout);
            at = console.WaitFor("# ", at, CommandTimeout);
            Assert.Equal("2", Lines(console.Execute("grep -c processor /proc/cpuinfo", 5, ref at, CommandTimeout)).Last());

            console.Type("poweroff\n");
            var result = await run.WaitAsync(CommandTimeout);
            output.WriteLine($"outcome: {result.Outcome} ({result.Message}) after {result.Elapsed.TotalSeconds:0.0} s, {result.Boots} boots, {vm.GuestInstructionsRetired} guest instructions in the last");
            Assert.Equal(VmOutcome.PoweredOff, result.Outcome);
            Assert.Equal(2, result.Boots);
            Assert.True(vm.GuestInstructionsRetired > 100_000_000);
        }
        finally
        {
            output.WriteLine(console.Output);
            vm.Stop("test finished");
            await run.WaitAsync(CommandTimeout);
        }
    }

    private static string? Field(string line, string name)
    {
        int colon = line.IndexOf(':');
        return colon > 0 && line[..colon].Trim() == name ? line[(colon + 1)..].Trim() : null;
    }

    // "LOC:  1234  5678  Local timer interrupts": both per-CPU counts above zero.
    private static bool CountsOnBothCpus(string line)
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length >= 3 && long.TryParse(fields[1], out long cpu0) && long.TryParse(fields[2], out long cpu1) && cpu0 > 0 && cpu1 > 0;
    }
}
