namespace Sharpvisor.Vmm.Images;

/// <summary>
/// An ext4 root file system for virtio-blk (root=/dev/vda) made from the default guest's busybox tree: the default
/// initramfs unpacked (busybox and its applet links, the virtio modules, /init), plus the marker
/// <see cref="GuestInitScript.RootFilesystemMarker"/> that tells /init it already runs from the disk, packed with the
/// host's `mkfs.ext4 -d` (e2fsprogs). The initramfs's /init mounts root=/dev/vdX and switches to it.
/// </summary>
public static class RootFilesystemImage
{
    public const ulong DefaultSize = 256UL << 20;
    public const string VolumeLabel = "sharpvisor-root";

    /// <summary>Writes the image to <paramref name="outputPath"/> (replacing it); returns the number of files in it.</summary>
    public static async Task<int> BuildAsync(GuestImage image, string outputPath, ulong sizeBytes, IProgress<string>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (sizeBytes < 16UL << 20 || sizeBytes % 4096 != 0)
            throw new ArgumentOutOfRangeException(nameof(sizeBytes), "a root file system is at least 16 MiB and a whole number of 4 KiB blocks");
        DirectoryInfo tree = Directory.CreateTempSubdirectory("sharpvisor-rootfs-");
        string temporary = AtomicFile.TemporaryNameFor(outputPath);
        try
        {
            int entries = CpioNewcReader.ExtractTo(image.InitrdPath, tree.FullName);
            string marker = Path.Combine(tree.FullName, GuestInitScript.RootFilesystemMarker.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(marker)!);
            await File.WriteAllTextAsync(marker, $"root file system of {image.KernelVersion}, built {DateTimeOffset.UtcNow:O}\n", ct).ConfigureAwait(false);
            progress?.Report($"root file system: {entries} entries from {image.InitrdPath}, mkfs.ext4 -d into {outputPath} ({sizeBytes >> 20} MiB)");
            var mkfs = await ExternalProcess.RunAsync(FindMkfs(),
                ["-q", "-F", "-L", VolumeLabel, "-d", tree.FullName, temporary, $"{sizeBytes / 1024}k"], null, ct).ConfigureAwait(false);
            if (!mkfs.Succeeded) throw new GuestImageException($"mkfs.ext4 failed: {mkfs.Describe()}");
            AtomicFile.Commit(temporary, outputPath);
            return entries + 1;
        }
        finally
        {
            File.Delete(temporary);
            tree.Delete(recursive: true);
        }
    }

    private static string FindMkfs()
    {
        foreach (string directory in new[] { "/usr/sbin", "/sbin", "/usr/bin", "/bin" })
        {
            string candidate = Path.Combine(directory, "mkfs.ext4");
            if (File.Exists(candidate)) return candidate;
        }
        throw new GuestImageException("mkfs.ext4 is not installed; install e2fsprogs (apt-get install -y e2fsprogs)");
    }
}
