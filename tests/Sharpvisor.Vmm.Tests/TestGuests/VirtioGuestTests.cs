using Sharpvisor.Engines.Emulator;
using Sharpvisor.TestGuests;
using Sharpvisor.TestGuests.Guests;
using Sharpvisor.Vmm.HostCheck;
using Sharpvisor.Vmm.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.TestGuests;

/// <summary>
/// The virtio driver guest on the emulator engine and on QEMU TCG, the oracle that the driver itself is right: modern
/// and transitional functions, port access trapping as on PVM, and clear failures when devices are missing. Each run
/// must leave its pattern in sector 1 of the disk file and nothing anywhere else.
/// </summary>
public sealed class VirtioGuestTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _disk = NewDisk();
    private static TestGuest Guest => TestGuestCatalog.Get("virtio");

    private static string NewDisk()
    {
        string path = Path.Combine(Path.GetTempPath(), $"sharpvisor-virtio-{Guid.NewGuid():N}.img");
        File.WriteAllBytes(path, new byte[VirtioGuestDisk.Bytes]);
        return path;
    }

    public void Dispose() => File.Delete(_disk);

    private void AssertPatternOnDisk()
    {
        byte[] image = File.ReadAllBytes(_disk);
        Assert.Equal(VirtioGuestDisk.Bytes, image.Length);
        int start = (int)VirtioGuestDisk.PatternSector * VirtioGuestDisk.SectorSize;
        Assert.Equal(VirtioGuestDisk.ExpectedPatternSector(), image.AsSpan(start, VirtioGuestDisk.SectorSize).ToArray());
        Assert.True(image.AsSpan(0, start).IndexOfAnyExcept((byte)0) < 0, "bytes before the pattern sector changed");
        Assert.True(image.AsSpan(start + VirtioGuestDisk.SectorSize).IndexOfAnyExcept((byte)0) < 0, "bytes after the pattern sector changed");
    }

    private static void AssertDriverReport(IReadOnlyList<string> lines)
    {
        Assert.Contains(lines, l => l.StartsWith("virtio: virtio-rng in slot ") && l.Contains(" features 0x0 queue size 8 "));
        Assert.Contains(lines, l => l.StartsWith("virtio: virtio-blk in slot ") && l.Contains(" features 0x200 queue size 8 "));
        Assert.Contains(lines, l => l.StartsWith("virtio: virtio-rng read 256 bytes (interrupt) and 256 bytes (polled), first qwords "));
        Assert.Contains("virtio: virtio-blk capacity 2048 sectors; sector 1 written (interrupt), read back equal (polled), flushed (interrupt)", lines);
        Assert.Contains(lines, l => l.StartsWith("virtio: 3 requests completed by MSI-X, 2 by polling, 0 spurious; "));
        Assert.Contains("PASS virtio", lines);
    }

    /// <summary>The number after <paramref name="label"/> on the guest's summary line.</summary>
    internal static long SummaryValue(IEnumerable<string> lines, string label)
    {
        string line = Assert.Single(lines, l => l.StartsWith("virtio: ") && l.Contains(" tsc cycles since entry"));
        int at = label.EndsWith(' ') ? line.IndexOf(label, StringComparison.Ordinal) + label.Length : line.IndexOf(label, StringComparison.Ordinal);
        Assert.True(at >= 0, $"no '{label}' in '{line}'");
        if (label.EndsWith(' ')) return long.Parse(new string(line[at..].TakeWhile(char.IsDigit).ToArray()));
        int start = line.LastIndexOf(' ', at - 2) + 1;
        return long.Parse(line[start..(at - 1)]);
    }

    [SkippableFact]
    public void Driver_passes_on_the_emulator_and_leaves_its_pattern_on_the_disk()
    {
        Vm? vm = null;
        var run = TestGuestRunner.Run(new EmulatorEngine(), Guest, TimeSpan.FromSeconds(120), onStarted: v => vm = v, diskPath: _disk);
        log.WriteLine(run.SerialOutput);
        Assert.True(run.Passed, $"{run.Result.Outcome}: {run.Result.Message}\nserial:\n{run.SerialOutput}");
        var lines = run.SerialOutput.Split('\n').Select(l => l.Trim()).ToList();
        AssertDriverReport(lines);
        Assert.Equal(0, SummaryValue(lines, "port accesses emulated after #GP: "));   // the emulator honours IOPL 3
        AssertPatternOnDisk();
        long? instructions = vm!.GuestInstructionsRetired;
        Assert.NotNull(instructions);
        log.WriteLine($"emulator: {instructions} guest instructions, {SummaryValue(lines, "tsc cycles since entry")} tsc cycles "
                      + $"since entry, {run.Result.Elapsed.TotalMilliseconds:F0} ms for the whole run");
        // The driver is small; a runaway loop (a wait that never saw its completion) would show here.
        Assert.InRange(instructions.Value, 10_000, 5_000_000);
    }

    [SkippableFact]
    public void Driver_passes_on_qemu_with_modern_functions_and_writes_the_same_pattern()
    {
        var result = QemuRunner.Run(Guest.BuildElf(), extraArguments: QemuRunner.VirtioArguments(_disk));
        log.WriteLine(result.Output);
        Assert.Equal(TestGuestProtocol.ExitCodeOnPass, result.ExitCode);
        var lines = result.Lines.Select(l => l.Trim()).ToList();
        AssertDriverReport(lines);
        Assert.Contains(lines, l => l.StartsWith("virtio: virtio-rng in slot ") && l.Contains(" device 0x1044 "));
        Assert.Contains(lines, l => l.StartsWith("virtio: virtio-blk in slot ") && l.Contains(" device 0x1042 "));
        AssertPatternOnDisk();
    }

    [SkippableFact]
    public void Driver_passes_on_qemu_with_transitional_functions_when_every_port_access_traps()
    {
        // QEMU's default virtio-pci functions are transitional (0x1005, 0x1001: the type is in the subsystem ID), and
        // IOPL 0 sends every ring-3 PCI configuration access through the #GP emulation, as KVM on PVM does.
        var result = QemuRunner.Run(Guest.BuildElf(new TestGuestOptions { UserIopl = 0 }),
            extraArguments: QemuRunner.VirtioArguments(_disk, transitional: true));
        log.WriteLine(result.Output);
        Assert.Equal(TestGuestProtocol.ExitCodeOnPass, result.ExitCode);
        var lines = result.Lines.Select(l => l.Trim()).ToList();
        AssertDriverReport(lines);
        Assert.Contains(lines, l => l.Contains(" device 0x1005 "));
        Assert.Contains(lines, l => l.Contains(" device 0x1001 "));
        Assert.True(SummaryValue(lines, "port accesses emulated after #GP: ") > 100);
        AssertPatternOnDisk();
    }

    [SkippableFact]
    public void Driver_fails_clearly_without_a_disk()
    {
        var result = QemuRunner.Run(Guest.BuildElf(), extraArguments: QemuRunner.VirtioArguments(diskPath: null));
        Assert.Equal(TestGuestProtocol.ExitCodeOnFail, result.ExitCode);
        Assert.Contains("FAIL virtio: no virtio-blk function (1af4:1042 or transitional 1af4:1001) on PCI bus 0",
            result.Lines.Select(l => l.Trim()));
    }

    [SkippableFact]
    public void Driver_fails_clearly_without_virtio()
    {
        var result = QemuRunner.Run(Guest.BuildElf());
        Assert.Equal(TestGuestProtocol.ExitCodeOnFail, result.ExitCode);
        Assert.Contains("FAIL virtio: no virtio-rng function (1af4:1044 or transitional 1af4:1005) on PCI bus 0",
            result.Lines.Select(l => l.Trim()));
    }
}
