using System.Diagnostics;
using System.Text.RegularExpressions;
using Sharpvisor.Vmm.Images;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Images;

/// <summary>Really pulls Debian's packages with apt into a temporary cache and checks what was built.</summary>
public sealed class DefaultGuestImageIntegrationTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _cache = Directory.CreateTempSubdirectory("sharpvisor-cache-test-");

    public void Dispose() => _cache.Delete(recursive: true);

    [Fact]
    public async Task Pulls_kernel_and_busybox_and_builds_a_bootable_verified_image()
    {
        var lines = new List<string>();
        var progress = new SynchronousProgress(lines);
        var stopwatch = Stopwatch.StartNew();

        // Two pulls at once: the lock makes one build and the other reuse the result.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var results = await Task.WhenAll(
            DefaultGuestImage.EnsureAsync(_cache.FullName, progress, timeout.Token),
            DefaultGuestImage.EnsureAsync(_cache.FullName, progress, timeout.Token));
        output.WriteLine($"first build: {stopwatch.Elapsed.TotalSeconds:0.0} s");
        foreach (string line in lines) output.WriteLine(line);
        var image = results[0];
        Assert.Equal(image.Manifest.Files, results[1].Manifest.Files);
        Assert.Single(lines, l => l.StartsWith("building guest image"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^downloading linux-image-\S+-cloud-amd64 \S+ \(\d+\.\d MiB\)\.\.\.$"));
        Assert.Contains(lines, l => l.StartsWith("downloading busybox-static "));
        Assert.Contains(lines, l => l.StartsWith("unpacking "));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^building initramfs: \d+ files, \d+ KiB"));

        // The kernel: a bzImage whose release is the package's.
        byte[] kernel = File.ReadAllBytes(image.KernelPath);
        Assert.Equal("HdrS"u8.ToArray(), kernel[0x202..0x206]);
        Assert.Matches(@"^\d+\.\d+\.\d+-\d+-cloud-amd64$", image.KernelVersion);
        Assert.Equal("linux-image-" + image.KernelVersion, image.Manifest.KernelPackage);
        Assert.StartsWith(Path.Combine(_cache.FullName, "images", "debian-cloud"), image.KernelPath);

        // The initramfs: init, busybox and its links, the console node and the virtio modules.
        var entries = CpioTestReader.ReadGzipFile(image.InitrdPath).ToDictionary(e => e.Name);
        var init = entries["init"];
        Assert.True(init.IsRegularFile);
        Assert.Equal(0x1EDu, init.Permissions);
        Assert.StartsWith("#!/bin/busybox sh\n", init.Text);
        Assert.True(entries["bin/busybox"].IsRegularFile);
        Assert.Equal("\u007fELF"u8.ToArray(), entries["bin/busybox"].Data[..4]);
        Assert.True(entries["bin/sh"].IsSymlink);
        Assert.Equal("/bin/busybox", entries["bin/sh"].Text);
        Assert.Equal("/bin/busybox", entries["sbin/insmod"].Text);
        Assert.Equal("/bin/busybox", entries["bin/cttyhack"].Text);
        Assert.Equal((5u, 1u), (entries["dev/console"].RdevMajor, entries["dev/console"].RdevMinor));
        string modules = $"lib/modules/{image.KernelVersion}/";
        Assert.True(entries[modules + "kernel/drivers/block/virtio_blk.ko"].IsRegularFile);
        Assert.True(entries.ContainsKey(modules + "modules.dep"));
        Assert.Equal(GuestVsockRelay.Build(), entries[GuestVsockRelay.GuestPath].Data);
        Assert.Equal(0x1EDu, entries[GuestVsockRelay.GuestPath].Permissions);

        // Module order, checked against each module's own .modinfo: dependencies are loaded first.
        string[] loads = init.Text.Split('\n').Where(l => l.TrimStart().StartsWith("load ")).Select(l => l.TrimStart()[5..]).ToArray();
        var loadedNames = loads.Select(KernelModule.NormalizeName).ToList();
        Assert.Equal(image.Manifest.Modules, loadedNames);
        foreach (string wanted in new[] { "virtio", "virtio_ring", "virtio_pci", "virtio_blk", "virtio_net", "virtio_rng",
                     "virtio_balloon", "virtio_console", "failover", "net_failover", "vsock", "vmw_vsock_virtio_transport_common",
                     "vmw_vsock_virtio_transport" })
            Assert.Contains(wanted, loadedNames);
        for (int i = 0; i < loads.Length; i++)
        {
            var info = KernelModuleInfo.Read(entries[modules + loads[i]].Data);
            Assert.Contains(info, p => p.Key == "vermagic" && p.Value.StartsWith(image.KernelVersion + " "));
            foreach (string dependency in KernelModuleInfo.Dependencies(info))
            {
                int at = loadedNames.IndexOf(dependency);
                Assert.True(at >= 0 && at < i, $"{dependency} must be loaded before {loadedNames[i]}");
            }
        }
        int ready = Array.FindIndex(init.Text.Split('\n'), l => l.Contains("SHARPVISOR-READY"));
        Assert.True(ready > Array.FindLastIndex(init.Text.Split('\n'), l => l.StartsWith("load ")));

        // Cached: loads without building; damaged: rebuilt, byte for byte the same from the same packages.
        var cached = DefaultGuestImage.TryLoadCached(_cache.FullName);
        Assert.NotNull(cached);
        Assert.Equal(image.KernelVersion, cached.KernelVersion);
        string initrdHash = image.Manifest.Files[DefaultGuestImage.InitrdFileName].Sha256;
        byte[] initrd = File.ReadAllBytes(image.InitrdPath);
        initrd[^100] ^= 0xFF;
        File.WriteAllBytes(image.InitrdPath, initrd);
        Assert.Null(DefaultGuestImage.TryLoadCached(_cache.FullName));

        lines.Clear();
        stopwatch.Restart();
        var rebuilt = await DefaultGuestImage.EnsureAsync(_cache.FullName, progress, timeout.Token);
        output.WriteLine($"rebuild: {stopwatch.Elapsed.TotalSeconds:0.0} s");
        Assert.Contains(lines, l => l.Contains("initramfs.cpio.gz has SHA-256"));
        Assert.Equal(initrdHash, rebuilt.Manifest.Files[DefaultGuestImage.InitrdFileName].Sha256);
        Assert.Equal(["debian-cloud", "debian-cloud.lock"],
            Directory.GetFileSystemEntries(Path.Combine(_cache.FullName, "images")).Select(Path.GetFileName).Order());
        Assert.Equal(["initramfs.cpio.gz", "manifest.json", "vmlinuz"],
            Directory.GetFiles(Path.GetDirectoryName(image.KernelPath)!).Select(Path.GetFileName).Order());
    }
}
