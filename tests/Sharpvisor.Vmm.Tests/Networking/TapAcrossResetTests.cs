using System.Security.Cryptography;
using Sharpvisor.Testing;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Sharpvisor.Vmm.Tests.Migration;

namespace Sharpvisor.Vmm.Tests.Networking;

/// <summary>
/// A VM with a tap the VMM created, reset through the control socket (`sharpvisor reset`): the guest boots again (the
/// counter starts over) and the tap is the same interface with the address the host gave it, as with QEMU's
/// system_reset; it goes away when the VM does.
/// </summary>
public sealed class TapAcrossResetTests
{
    [RootNetworkFact]
    public async Task A_reset_reboots_the_guest_and_keeps_the_tap_with_its_host_address()
    {
        HostRequires.Kvm();
        string id = Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
        string tap = $"svrs{id}";
        var config = new VmConfig
        {
            KernelPath = MigrationGuests.CounterPath, CommandLine = $"ticks=0 spin={TestEngines.Spin("kvm")}", MemoryBytes = 64UL << 20,
            TestDevices = true, Networks = [new NetSpec(tap)],
        };
        var console = new ScriptedConsole();
        string socket = Path.Combine(Path.GetTempPath(), $"sharpvisor-reset-{id}.sock");
        var vm = new VirtualMachine(config, TestEngines.Create("kvm"), console);
        var run = Task.Factory.StartNew(vm.Run, TaskCreationOptions.LongRunning);
        try
        {
            using (var control = new VmControlServer(vm, socket))
            {
                int at = console.WaitFor("tick 3\n", 0, TimeSpan.FromSeconds(60));
                NetworkNamespace.Ip($"addr add 10.217.0.1/24 dev {tap}");
                string index = NetworkNamespace.Ip($"-j link show {tap}").Split("\"ifindex\":")[1].Split(',')[0];

                Assert.Equal("ok resetting", VmControlServer.Send(socket, "reset", TimeSpan.FromSeconds(10)));
                console.WaitFor("tick 1\n", at, TimeSpan.FromSeconds(60)); // the count starts over: a new boot
                Assert.Equal(VmState.Running, vm.State);
                Assert.Contains("10.217.0.1/24", NetworkNamespace.Ip($"addr show {tap}"));
                Assert.Equal(index, NetworkNamespace.Ip($"-j link show {tap}").Split("\"ifindex\":")[1].Split(',')[0]);

                vm.Pause();
                Assert.StartsWith("error ", VmControlServer.Send(socket, "reset", TimeSpan.FromSeconds(10)));
                vm.Resume();
            }
            vm.Stop("test over");
            Assert.Equal(VmOutcome.Stopped, (await run.WaitAsync(TimeSpan.FromSeconds(30))).Outcome);
        }
        finally
        {
            vm.Stop("test over");
            await run.WaitAsync(TimeSpan.FromSeconds(30));
            vm.Dispose();
        }
        Assert.DoesNotContain(tap, NetworkNamespace.Ip("link show"));
    }
}
