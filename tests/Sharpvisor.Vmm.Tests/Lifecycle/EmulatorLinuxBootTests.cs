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
/// Debian's own kernel and the default initramfs on the emulator engine, driven through the serial console the way a
/// person would: wait for the shell, run commands, compare what they print with what the host knows, power off.
/// </summary>
public sealed class EmulatorLinuxBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Debian_kernel_boots_to_a_shell_on_the_emulator_runs_commands_and_powers_off()
    {
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        var config = new VmConfig
        {
            KernelPath = image.KernelPath,
            InitrdPath = image.InitrdPath,
            CommandLine = DefaultGuestImage.SuggestedCommandLine,
            MemoryBytes = 256UL << 20,
            Topology = CpuTopology.Flat(1),
            NoReboot = true,
        };
        var console = new ScriptedConsole();
        using var vm = new Vm(config, new EmulatorEngine(), console);
        var run = Task.Run(vm.Run);
        try
        {
            int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
            at = console.WaitFor("# ", at, CommandTimeout); // the shell's prompt
            output.WriteLine($"shell ready after {DateTime.UtcNow - System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime():g} of test process time");

            Assert.Contains(image.KernelVersion, Lines(console.Execute("uname -r", 1, ref at, CommandTimeout)));

            var cpuinfo = Lines(console.Execute("cat /proc/cpuinfo", 2, ref at, CommandTimeout));
            Assert.Single(cpuinfo, l => l.StartsWith("processor"));
            Assert.Contains(cpuinfo, l => l.StartsWith("model name") && l.EndsWith("Sharpvisor emulated x86-64 CPU"));
            Assert.Contains(cpuinfo, l => l.StartsWith("flags") && l.Contains(" hypervisor") && l.Contains(" sse2") && !l.Contains(" avx"));

            // A file written inside the guest has the hash the host computes for the same bytes.
            var expected = new StringBuilder();
            for (int i = 1; i <= 3000; i++) expected.Append($"sharpvisor {i}\n");
            string hash = Convert.ToHexString(SHA256.HashData(Encoding.ASCII.GetBytes(expected.ToString()))).ToLowerInvariant();
            var sha = Lines(console.Execute("printf 'sharpvisor %s\\n' $(seq 1 3000) > /root/data; sha256sum /root/data", 3, ref at, CommandTimeout));
            Assert.Contains($"{hash}  /root/data", sha);

            console.Type("poweroff -f\n");
            var result = await run.WaitAsync(CommandTimeout);
            output.WriteLine($"outcome: {result.Outcome} ({result.Message}) after {result.Elapsed.TotalSeconds:0.0} s");
            Assert.Equal(VmOutcome.PoweredOff, result.Outcome);
        }
        finally
        {
            output.WriteLine(console.Output);
            vm.Stop("test finished");
            await run.WaitAsync(CommandTimeout);
        }
    }
}
