using Sharpvisor.TestGuests;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Snapshots;

/// <summary>
/// serial-echo saved with --stop while it waits for its line, restored on the same engine: the first line typed after
/// the restore reaches it whole (KVM's in-kernel irqchip and the emulator's IOAPIC alike; Linux, which needs the
/// interrupt, is <see cref="EmulatorLinuxRestoreInputTests"/>).
/// </summary>
public sealed class SerialInputAfterRestoreTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-serial-restore-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [SkippableTheory]
    [InlineData("kvm")]
    [InlineData("emulator")]
    public async Task The_first_line_typed_after_a_restore_reaches_serial_echo_whole(string engine)
    {
        HostRequires.Engine(engine);
        var guest = TestGuestCatalog.Get("serial-echo");
        string kernel = Path.Combine(_directory, "serial-echo.elf"), saved = Path.Combine(_directory, "saved");
        File.WriteAllBytes(kernel, guest.BuildElf());
        var config = new VmConfig { KernelPath = kernel, MemoryBytes = 64UL << 20, TestDevices = true, NoReboot = true };
        var console = new ScriptedConsole();
        using (var vm = new Vm(config, TestEngines.Create(engine), console))
        {
            var run = Task.Run(vm.Run);
            console.WaitFor(guest.SerialInputPrompt, 0, Timeout);
            vm.SaveSnapshot(saved, stopAfter: true);
            Assert.Equal(VmOutcome.Stopped, (await run.WaitAsync(Timeout)).Outcome);
        }

        var restored = new ScriptedConsole();
        var snapshot = SnapshotStore.Load(saved);
        using (var vm = new Vm(snapshot.Manifest.Config, TestEngines.Create(engine), restored) { RestoreFrom = snapshot })
        {
            using var started = new ManualResetEventSlim();
            vm.Started += _ => started.Set();
            var run = Task.Run(vm.Run);
            try
            {
                Assert.True(started.Wait(Timeout), "the restored VM did not start");
                Thread.Sleep(500); // the guest polls again before anyone types
                restored.Type(guest.SerialInput);
                var result = await run.WaitAsync(Timeout);
                Assert.Contains($"ECHO {guest.SerialInput.TrimEnd('\n')}\n", restored.Output);
                Assert.Equal(VmOutcome.PoweredOff, result.Outcome);
            }
            finally
            {
                output.WriteLine(restored.Output);
                vm.Stop("test finished");
                await run.WaitAsync(Timeout);
            }
        }
    }
}
