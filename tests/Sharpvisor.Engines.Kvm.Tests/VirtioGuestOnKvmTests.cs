using Sharpvisor.TestGuests;
using Sharpvisor.TestGuests.Guests;
using Sharpvisor.Vmm.HostCheck;
using Xunit.Abstractions;

namespace Sharpvisor.Engines.Kvm.Tests;

/// <summary>
/// The virtio driver guest on the KVM engine: the virtio-pci transport, MSI-X through KVM_SIGNAL_MSI, and the block
/// device's I/O thread, seen by a guest whose driver runs in ring 3 (natively on PVM) and whose PCI configuration
/// accesses trap into its own #GP emulation.
/// </summary>
public sealed class VirtioGuestOnKvmTests(ITestOutputHelper log)
{
    [SkippableFact]
    public void Driver_passes_on_kvm_and_leaves_its_pattern_on_the_disk()
    {
        HostRequires.Kvm();
        string disk = Path.Combine(Path.GetTempPath(), $"sharpvisor-virtio-{Guid.NewGuid():N}.img");
        File.WriteAllBytes(disk, new byte[VirtioGuestDisk.Bytes]);
        try
        {
            var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get("virtio"), TimeSpan.FromSeconds(60), diskPath: disk);
            log.WriteLine(run.SerialOutput);
            Assert.True(run.Passed, $"{run.Result.Outcome}: {run.Result.Message}\nserial:\n{run.SerialOutput}");
            var lines = run.SerialOutput.Split('\n').Select(l => l.Trim()).ToList();
            Assert.Contains(lines, l => l.StartsWith("virtio: virtio-rng in slot ") && l.Contains(" device 0x1044 "));
            Assert.Contains(lines, l => l.StartsWith("virtio: virtio-blk in slot ") && l.Contains(" device 0x1042 "));
            Assert.Contains(lines, l => l.StartsWith("virtio: virtio-rng read 256 bytes (interrupt) and 256 bytes (polled)"));
            Assert.Contains("virtio: virtio-blk capacity 2048 sectors; sector 1 written (interrupt), read back equal (polled), flushed (interrupt)", lines);
            string summary = Assert.Single(lines, l => l.StartsWith("virtio: 3 requests completed by MSI-X, 2 by polling, 0 spurious; "));
            log.WriteLine($"kvm: {summary}; {run.Result.Elapsed.TotalMilliseconds:F0} ms for the whole run");

            byte[] image = File.ReadAllBytes(disk);
            int start = (int)VirtioGuestDisk.PatternSector * VirtioGuestDisk.SectorSize;
            Assert.Equal(VirtioGuestDisk.ExpectedPatternSector(), image.AsSpan(start, VirtioGuestDisk.SectorSize).ToArray());
            Assert.True(image.AsSpan(0, start).IndexOfAnyExcept((byte)0) < 0);
            Assert.True(image.AsSpan(start + VirtioGuestDisk.SectorSize).IndexOfAnyExcept((byte)0) < 0);
        }
        finally
        {
            File.Delete(disk);
        }
    }
}
