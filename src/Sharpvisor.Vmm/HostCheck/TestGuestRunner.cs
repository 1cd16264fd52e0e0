using System.Text;
using Sharpvisor.Engines;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.TestGuests;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Serial;

namespace Sharpvisor.Vmm.HostCheck;

/// <summary>Runs one of our test guests on an engine, with the test devices attached, and judges it by its own verdict.</summary>
public static class TestGuestRunner
{
    /// <param name="serialInput">Typed into COM1 before the guest starts (the UART holds it until the guest reads it);
    /// null types what the guest needs to pass, <see cref="TestGuest.SerialInput"/> (nothing for most guests).</param>
    /// <param name="diskPath">For a guest that requires <see cref="TestGuestRequirements.VirtioBlock"/>: the raw image
    /// it gets as its virtio-blk disk, so the caller can look at it afterwards; null gives it a fresh zeroed
    /// <see cref="TestGuests.Guests.VirtioGuestDisk.Bytes"/>-byte image that is deleted with the run.</param>
    public static TestGuestRun Run(IEngine engine, TestGuest guest, TimeSpan timeout, TestGuestOptions? options = null,
        string commandLine = "", CpuTopology? topology = null, Action<Vm>? onStarted = null,
        bool testDevices = true, string? serialInput = null, string? diskPath = null)
    {
        serialInput ??= guest.SerialInput;
        string dir = Directory.CreateTempSubdirectory("sharpvisor-guest-").FullName;
        try
        {
            string kernel = Path.Combine(dir, guest.Name + ".elf");
            File.WriteAllBytes(kernel, guest.BuildElf(options));
            var disks = new List<DiskSpec>();
            if (guest.Requirements.HasFlag(TestGuestRequirements.VirtioBlock))
            {
                if (diskPath is null)
                {
                    diskPath = Path.Combine(dir, "disk.img");
                    using var image = File.Create(diskPath);
                    image.SetLength(TestGuests.Guests.VirtioGuestDisk.Bytes);
                }
                disks.Add(new DiskSpec(diskPath));
            }
            var config = new VmConfig
            {
                KernelPath = kernel,
                CommandLine = commandLine,
                MemoryBytes = (ulong)Math.Max(128, guest.MinimumMemoryMiB) << 20,
                Topology = topology ?? CpuTopology.Flat(1),
                TestDevices = testDevices,
                NoReboot = true,
                Disks = disks,
                EntropyDevice = true,
            };
            var output = new StringBuilder();
            using var vm = new Vm(config, engine, new StreamSerialBackend(Stream.Null, null, false));
            vm.SerialOutput += b => { lock (output) output.Append((char)b); };
            if (onStarted is not null) vm.Started += onStarted;
            if (serialInput.Length > 0) vm.SendSerialInput(Encoding.Latin1.GetBytes(serialInput));
            using var watchdog = new Timer(_ => vm.Stop($"timed out after {timeout.TotalSeconds:0} s"), null, timeout, Timeout.InfiniteTimeSpan);
            var result = vm.Run();
            string text;
            lock (output) text = output.ToString();
            bool passed = result.Outcome == VmOutcome.PoweredOff && result.DebugExitStatus == 0
                && text.Split('\n').Any(l => l.Trim() == guest.ExpectedSerialMarker);
            return new TestGuestRun(guest.Name, passed, result, text);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
