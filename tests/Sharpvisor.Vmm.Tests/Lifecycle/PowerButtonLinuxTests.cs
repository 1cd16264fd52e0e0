using System.Diagnostics;
using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Tests.Virtio;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>
/// The default guest on the emulator hears the machine's ACPI power button (Generic Event Device, PNP0C0C button,
/// busybox acpid) and powers off, and Ctrl-Alt-Del typed on the PS/2 keyboard makes it reboot (the kernel signals
/// its init, which says so on the console and reboots).
/// </summary>
public sealed class PowerButtonLinuxTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Sharpvisor_powerdown_makes_the_default_guest_power_off_and_run_exit_0()
    {
        await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        string cli = ChildVmm.EnsureCli();
        string directory = Directory.CreateTempSubdirectory("sharpvisor-powerdown-").FullName;
        string socket = Path.Combine(directory, "vm.sock");
        try
        {
            using var vmm = new ChildVmm(cli, ["run", "--engine", "emulator", "-m", "256M", "--no-rng", "--serial", "stdio", "--control", socket]);
            try
            {
                int at = vmm.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
                var (exit, reply) = RunCli(cli, "powerdown", "--control", socket);
                Assert.True(exit == 0, $"sharpvisor powerdown exited with {exit}: {reply}");
                Assert.Contains("power button pressed", reply);
                vmm.WaitFor(GuestInitScript.PowerButtonLine, at, CommandTimeout);
                Assert.True(vmm.Process.WaitForExit(CommandTimeout), "the VMM did not end after the guest powered off");
                Assert.Equal(0, vmm.Process.ExitCode);
                // The guest found the button through ACPI before it was pressed.
                Assert.Contains("Power Button [PWRB]", vmm.Output);
            }
            finally
            {
                output.WriteLine(vmm.Output);
                output.WriteLine(vmm.Errors);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Ctrl_Alt_Del_on_the_control_socket_makes_the_default_guest_reboot()
    {
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        var config = new VmConfig
        {
            KernelPath = image.KernelPath,
            InitrdPath = image.InitrdPath,
            CommandLine = DefaultGuestImage.SuggestedCommandLine,
            MemoryBytes = 256UL << 20,
            Topology = CpuTopology.Flat(1),
            NoReboot = true,                                 // the reboot ends the run, so it can be asserted
        };
        var console = new ScriptedConsole();
        using var vm = new Vm(config, new EmulatorEngine(), console);
        Assert.Throws<InvalidOperationException>(vm.SendCtrlAltDel);     // not started yet
        Assert.Throws<InvalidOperationException>(vm.PressPowerButton);
        string socket = Path.Combine(Path.GetTempPath(), $"sharpvisor-cad-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");
        using var control = new VmControlServer(vm, socket);
        var run = Task.Run(vm.Run);
        try
        {
            int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
            // The keyboard Linux's atkbd found on the i8042 is the one the keys go through.
            Assert.Contains("AT Translated Set 2 keyboard", console.Output);
            Assert.Equal("ok Ctrl-Alt-Del sent", VmControlServer.Send(socket, "ctrl-alt-del", CommandTimeout));
            console.WaitFor(GuestInitScript.CtrlAltDelLine, at, CommandTimeout);
            var result = await run.WaitAsync(CommandTimeout);
            output.WriteLine($"outcome: {result.Outcome} ({result.Message}) after {result.Elapsed.TotalSeconds:0.0} s");
            Assert.Equal(VmOutcome.ResetRequested, result.Outcome);
            Assert.StartsWith("error cannot send Ctrl-Alt-Del: the VM is stopped", VmControlServer.Send(socket, "ctrl-alt-del", CommandTimeout));
            Assert.StartsWith("error cannot press the power button: the VM is stopped", VmControlServer.Send(socket, "powerdown", CommandTimeout));
        }
        finally
        {
            output.WriteLine(console.Output);
            vm.Stop("test finished");
            await run.WaitAsync(CommandTimeout);
        }
    }

    private static (int Exit, string Output) RunCli(string cli, params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(cli);
        foreach (string a in arguments) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}
