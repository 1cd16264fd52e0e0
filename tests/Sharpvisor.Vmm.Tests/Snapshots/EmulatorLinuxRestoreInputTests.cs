using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Devices.Input;
using Sharpvisor.Machine.Devices.Interrupts;
using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.Power;
using Sharpvisor.Machine.Devices.Rtc;
using Sharpvisor.Machine.Devices.Serial;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Snapshots;

/// <summary>
/// Debian's shell saved with --stop while console input was arriving, restored in a new machine: the first line typed
/// after the restore arrives whole. The input lands after the UART's record and before the IOAPIC's, so the snapshot's
/// IOAPIC holds COM1's line high while the UART has nothing pending; restored in that order, the IOAPIC kept the stale
/// level and swallowed the next rising edge (the pin is edge-triggered), and the console never heard the line.
/// </summary>
public sealed class EmulatorLinuxRestoreInputTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(2),
        LineTimeout = TimeSpan.FromSeconds(30);
    private readonly string _root = Directory.CreateTempSubdirectory("sharpvisor-restore-input-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task The_first_line_typed_after_a_restore_arrives_whole_even_if_input_came_during_the_save()
    {
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        var config = new VmConfig
        {
            KernelPath = image.KernelPath, InitrdPath = image.InitrdPath, CommandLine = DefaultGuestImage.SuggestedCommandLine,
            MemoryBytes = 256UL << 20, Topology = CpuTopology.Flat(1), NoReboot = true, EntropyDevice = false,
        };
        string saved = Path.Combine(_root, "saved");
        var console = new ScriptedConsole();
        VirtualMachine? saving = null;
        using (var vm = saving = new VirtualMachine(config, new EmulatorEngine(), console) { DeviceCodecs = CodecsTypingAfterTheUart(() => saving!) })
        {
            var run = Task.Run(vm.Run);
            try
            {
                int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
                at = console.WaitFor("# ", at, CommandTimeout);
                console.Execute("echo marked > /tmp/mark", 1, ref at, CommandTimeout);
                console.WaitFor("# ", at, CommandTimeout);
                vm.SaveSnapshot(saved, stopAfter: true);
                Assert.Equal(VmOutcome.Stopped, (await run.WaitAsync(CommandTimeout)).Outcome);
            }
            finally
            {
                output.WriteLine(console.Output);
            }
        }

        var restored = new ScriptedConsole();
        var snapshot = SnapshotStore.Load(saved);
        using (var vm = new VirtualMachine(snapshot.Manifest.Config, new EmulatorEngine(), restored) { RestoreFrom = snapshot })
        {
            using var started = new ManualResetEventSlim();
            vm.Started += _ => started.Set();
            var run = Task.Run(vm.Run);
            try
            {
                Assert.True(started.Wait(CommandTimeout), "the restored VM did not start");
                // The guest first takes the interrupt the save caught in flight, and finds nothing; then a person types.
                Thread.Sleep(2000);
                // What the shell prints names what it computed, so the echo of the typed line cannot match it.
                restored.Type("echo one-$((40+2))\n");
                restored.WaitFor("one-42", 0, LineTimeout);
                restored.Type("cat /tmp/mark\n");
                restored.WaitFor("marked", 0, LineTimeout);
                restored.Type("poweroff -f\n");
                Assert.Equal(VmOutcome.PoweredOff, (await run.WaitAsync(CommandTimeout)).Outcome);
            }
            finally
            {
                output.WriteLine(restored.Output);
                vm.Stop("test finished");
                await run.WaitAsync(CommandTimeout);
            }
        }
    }

    /// <summary>
    /// The default guest's devices (no virtio), with a UART whose record, once taken, is followed by a typed line: input
    /// that arrives while the save is under way, between the UART's record and the IOAPIC's.
    /// </summary>
    private static DeviceStateCodecs CodecsTypingAfterTheUart(Func<VirtualMachine> vm)
    {
        var codecs = new DeviceStateCodecs();
        codecs.Register<Uart16550, Uart16550State>("uart16550", d =>
        {
            var state = d.SaveState();
            vm().SendSerialInput("echo typed-during-save\n"u8);
            return state;
        }, (d, s) => d.RestoreState(s));
        codecs.Register<I8042Controller, I8042ControllerState>("i8042", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<CmosRtc, CmosRtcState>("cmos-rtc", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<PciRoot, PciRootState>("pci-root", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<AcpiPowerDevice, AcpiPowerDeviceState>("acpi-power", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<IoApic, IoApicState>("ioapic", d => d.SaveState(), (d, s) => d.RestoreState(s));
        return codecs;
    }
}
