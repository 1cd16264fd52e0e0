using System.Globalization;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>
/// `--ksm` (<see cref="VmConfig.Ksm"/>): the guest's RAM mappings carry the kernel's "mg" flag (MADV_MERGEABLE, as
/// /proc/PID/smaps shows it), after a restore from a snapshot too; without it, no mapping of this process does. One class,
/// so its VMs never run beside each other: no other code here marks memory mergeable.
/// </summary>
public sealed class KsmTests : IDisposable
{
    private const ulong GuestRam = 200UL << 20;
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-ksm-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static void RequireKsm() =>
        Skip.IfNot(Directory.Exists("/sys/kernel/mm/ksm"), "needs a host kernel with KSM: /sys/kernel/mm/ksm does not exist");

    /// <summary>Bytes of this process's mappings whose VmFlags include "mg".</summary>
    private static ulong MergeableBytes()
    {
        ulong total = 0, size = 0;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out ulong start)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, null, out ulong end))
                size = end - start;
            else if (line.StartsWith("VmFlags:", StringComparison.Ordinal) && line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("mg"))
                total += size;
        }
        return total;
    }

    private static ulong GuestRamBytes()
    {
        using var layout = GuestMemory.CreateX86(GuestRam);
        return layout.Regions.Aggregate(0UL, (sum, r) => sum + r.Size);
    }

    [SkippableFact]
    public void Guest_RAM_is_mergeable_with_ksm_also_after_a_restore_and_not_without_it()
    {
        RequireKsm();
        using (var plain = new CounterRun(TestEngines.Create("emulator"), configure: c => c with { MemoryBytes = GuestRam }))
        {
            plain.WaitForTick(2);
            Assert.Equal(0UL, MergeableBytes());
            plain.Vm.Stop("done");
            plain.Finish(TimeSpan.FromSeconds(30));
        }

        using (var run = new CounterRun(TestEngines.Create("emulator"), configure: c => c with { MemoryBytes = GuestRam, Ksm = true }))
        {
            run.WaitForTick(2);
            Assert.Equal(GuestRamBytes(), MergeableBytes());
            run.Vm.SaveSnapshot(_directory, stopAfter: true);
            run.Finish(TimeSpan.FromSeconds(30));
        }
        Assert.Equal(0UL, MergeableBytes());                  // the mapping went with the machine

        var snapshot = SnapshotStore.Load(_directory);
        Assert.True(snapshot.Manifest.Config.Ksm);
        using (var restored = new CounterRun(TestEngines.Create("emulator"), restore: snapshot))
        {
            restored.Console.WaitFor("tick ", 0, TimeSpan.FromSeconds(60));
            Assert.Equal(GuestRamBytes(), MergeableBytes()); // over the snapshot's private file mapping as well
            restored.Vm.Stop("done");
            restored.Finish(TimeSpan.FromSeconds(30));
        }
    }
}
