using System.Diagnostics;
using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Storage.Qcow2;
using Sharpvisor.TestGuests;
using Sharpvisor.TestGuests.Guests;
using Sharpvisor.Vmm.HostCheck;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.TestGuests;

/// <summary>The virtio driver guest on the emulator with a qcow2 disk: qemu-img finds its pattern and a clean image.</summary>
public sealed class VirtioGuestQcow2Tests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-virtio-qcow2-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string QemuImg(params string[] arguments)
    {
        var start = new ProcessStartInfo("qemu-img") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"qemu-img {string.Join(' ', arguments)} exited {process.ExitCode}: {output}");
        return output;
    }

    [SkippableFact]
    public void The_guest_writes_its_pattern_into_a_qcow2_disk_that_qemu_img_reads_back()
    {
        HostRequires.Tool("qemu-img", "qemu-utils");
        string image = Path.Combine(_dir, "disk.qcow2"), raw = Path.Combine(_dir, "disk.raw");
        Qcow2ImageCreator.Create(image, VirtioGuestDisk.Bytes);
        var run = TestGuestRunner.Run(new EmulatorEngine(), TestGuestCatalog.Get("virtio"), TimeSpan.FromSeconds(120), diskPath: image);
        log.WriteLine(run.SerialOutput);
        Assert.True(run.Passed, $"{run.Result.Outcome}: {run.Result.Message}\nserial:\n{run.SerialOutput}");

        Assert.Contains("No errors were found", QemuImg("check", image));
        QemuImg("convert", "-O", "raw", image, raw);
        byte[] disk = File.ReadAllBytes(raw);
        Assert.Equal(VirtioGuestDisk.Bytes, disk.Length);
        int start = (int)VirtioGuestDisk.PatternSector * VirtioGuestDisk.SectorSize;
        Assert.Equal(VirtioGuestDisk.ExpectedPatternSector(), disk.AsSpan(start, VirtioGuestDisk.SectorSize).ToArray());
        Assert.True(disk.AsSpan(0, start).IndexOfAnyExcept((byte)0) < 0, "bytes before the pattern sector changed");
        Assert.True(disk.AsSpan(start + VirtioGuestDisk.SectorSize).IndexOfAnyExcept((byte)0) < 0, "bytes after the pattern sector changed");
    }
}
