using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Cpu;
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
        Vm? saving = null;
        using (var vm = saving = new Vm(config, new EmulatorEngine(), console) { DeviceStates = RegistryTypingAfterTheUart(() => saving!) })
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
        using (var vm = new Vm(snapshot.Manifest.Config, new EmulatorEngine(), restored) { RestoreFrom = snapshot })
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
    /// The default registry with a UART codec that, once the UART's record is taken, types a line: input that arrives
    /// while the save is under way, between the UART's record and the IOAPIC's.
    /// </summary>
    private static DeviceStateRegistry RegistryTypingAfterTheUart(Func<Vm> vm)
    {
        var registry = new DeviceStateRegistry();
        foreach (var codec in DeviceStateRegistry.Default.Codecs)
            registry.Register(codec.DeviceType == typeof(Uart16550) ? new TypingAfterSave(codec, vm) : codec);
        return registry;
    }

    private sealed class TypingAfterSave(DeviceStateCodec uart, Func<Vm> vm) : DeviceStateCodec(uart.Kind, uart.DeviceType, uart.EngineOwned)
    {
        public override int Version => uart.Version;
        public override Type StateType => uart.StateType;

        public override DeviceStateEntry Save(object device, string key)
        {
            var entry = uart.Save(device, key);
            vm().SendSerialInput("echo typed-during-save\n"u8);
            return entry;
        }

        protected override void RestoreRecord(object device, object state) => ((Uart16550)device).RestoreState((Uart16550State)state);
    }
}
