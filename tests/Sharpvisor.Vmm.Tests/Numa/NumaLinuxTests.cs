using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Xunit.Abstractions;
using static Sharpvisor.Vmm.Tests.Lifecycle.ScriptedConsole;

namespace Sharpvisor.Vmm.Tests.Numa;

/// <summary>Debian's kernel on the emulator with two guest NUMA nodes: it finds them in the SRAT and SLIT, with their
/// vCPUs, their memory and the distance between them.</summary>
public sealed class NumaLinuxTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task The_guest_sees_two_nodes_with_their_vCPUs_memory_and_distances()
    {
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        var config = new VmConfig
        {
            KernelPath = image.KernelPath,
            InitrdPath = image.InitrdPath,
            CommandLine = DefaultGuestImage.SuggestedCommandLine,
            MemoryBytes = 384UL << 20,
            Topology = CpuTopology.Flat(2),
            NoReboot = true,
            NumaNodes = [new NumaNode([0], 128UL << 20), new NumaNode([1], 256UL << 20)],
        }.Validated(0);
        var console = new ScriptedConsole();
        using var vm = new Vm(config, new EmulatorEngine(), console);
        var run = Task.Run(vm.Run);
        try
        {
            int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
            at = console.WaitFor("# ", at, CommandTimeout);
            var lines = Lines(console.Execute(
                "cd /sys/devices/system/node; echo online=$(cat online); for n in 0 1; do echo node$n cpus=$(cat node$n/cpulist) distance=$(cat node$n/distance) $(grep MemTotal node$n/meminfo | tr -s ' '); done",
                1, ref at, CommandTimeout));
            output.WriteLine(string.Join("\n", lines));
            Assert.Contains("online=0-1", lines);
            var node0 = lines.Single(l => l.StartsWith("node0 ", StringComparison.Ordinal));
            var node1 = lines.Single(l => l.StartsWith("node1 ", StringComparison.Ordinal));
            Assert.StartsWith("node0 cpus=0 distance=10 20 Node 0 MemTotal: ", node0);
            Assert.StartsWith("node1 cpus=1 distance=20 10 Node 1 MemTotal: ", node1);
            // What each node's MemTotal counts is its RAM less what firmware and the kernel image reserve in it.
            ulong Kib(string line) => ulong.Parse(line.Split(' ')[^2]);
            Assert.InRange(Kib(node0), 64UL * 1024, 128UL * 1024);
            Assert.InRange(Kib(node1), 192UL * 1024, 256UL * 1024);        // its page structs and the initramfs at the top of RAM (seen: 220 MiB)
        }
        finally
        {
            output.WriteLine(console.Output);
            vm.Stop("test finished");
            await run.WaitAsync(CommandTimeout);
        }
    }
}
