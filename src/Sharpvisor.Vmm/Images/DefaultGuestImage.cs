using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// The default guest: Debian's cloud kernel (linux-image-cloud-amd64) with a busybox initramfs that loads the virtio
/// drivers and prints "SHARPVISOR-READY &lt;uptime&gt;". Built once from Debian packages with the host's apt and
/// dpkg (nothing is installed) into &lt;cache&gt;/images/debian-cloud/, then verified against its manifest on load.
/// Several processes may call <see cref="EnsureAsync(IProgress{string}?, CancellationToken)"/> at once: one builds
/// under a lock file, the others wait and then use its result.
/// </summary>
public static class DefaultGuestImage
{
    public const string ImageName = "debian-cloud";
    public const string KernelMetaPackage = "linux-image-cloud-amd64";
    public const string BusyboxPackage = "busybox-static";
    public const string KernelFileName = "vmlinuz";
    public const string InitrdFileName = "initramfs.cpio.gz";
    public const string ManifestFileName = "manifest.json";

    /// <summary>The line the guest prints when it is up, followed by a space and its uptime in seconds.</summary>
    public const string ReadyLinePrefix = GuestInitScript.ReadyLinePrefix;

    /// <summary>
    /// A kernel command line that suits the image on a PC-like machine with a 16550 at COM1. reboot=acpi: on a
    /// hardware-reduced ACPI machine without EFI Linux would otherwise try an EFI reset, then go back to real mode and
    /// jump to the reset vector (whose code, <see cref="Machine.Boot.ResetVector"/>, writes the reset register too);
    /// the FADT's reset register at once is the short way.
    /// </summary>
    public const string SuggestedCommandLine = "console=ttyS0 panic=-1 reboot=acpi";

    /// <summary>The image in the default cache (<see cref="GuestImageCache.Root"/>), fetched and built if needed.</summary>
    public static Task<GuestImage> EnsureAsync(IProgress<string>? progress = null, CancellationToken ct = default) =>
        EnsureAsync(GuestImageCache.Root, progress, ct);

    /// <summary>The image under <paramref name="cacheRoot"/>, fetched and built if missing or damaged.</summary>
    public static async Task<GuestImage> EnsureAsync(string cacheRoot, IProgress<string>? progress, CancellationToken ct)
    {
        string directory = GuestImageCache.ImageDirectory(cacheRoot, ImageName);
        if (TryLoad(directory, out var cached, out _)) return cached!;

        using var cacheLock = await CacheLock.AcquireAsync(directory + ".lock", progress, ct).ConfigureAwait(false);
        // Whoever held the lock before may just have built it.
        if (TryLoad(directory, out cached, out string? problem)) return cached!;
        progress?.Report($"building guest image {ImageName} in {directory} ({problem})");
        return await BuildAsync(directory, progress, ct).ConfigureAwait(false);
    }

    /// <summary>The image in the default cache if it is there and intact, else null.</summary>
    public static GuestImage? TryLoadCached() => TryLoadCached(GuestImageCache.Root);

    public static GuestImage? TryLoadCached(string cacheRoot) =>
        TryLoad(GuestImageCache.ImageDirectory(cacheRoot, ImageName), out var image, out _) ? image : null;

    /// <summary>Loads and verifies the image in a folder; on failure says why (missing, damaged, older format).</summary>
    public static bool TryLoad(string imageDirectory, out GuestImage? image, out string? problem)
    {
        image = null;
        string manifestPath = Path.Combine(imageDirectory, ManifestFileName);
        GuestImageManifest manifest;
        try
        {
            manifest = GuestImageManifest.FromJson(File.ReadAllText(manifestPath));
        }
        catch (FileNotFoundException)
        {
            problem = "not built yet";
            return false;
        }
        catch (DirectoryNotFoundException)
        {
            problem = "not built yet";
            return false;
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            problem = $"unreadable manifest: {e.Message}";
            return false;
        }
        if (manifest.Version != GuestImageManifest.CurrentVersion || manifest.ImageName != ImageName)
        {
            problem = $"manifest is for {manifest.ImageName} version {manifest.Version}";
            return false;
        }
        if (!manifest.Files.ContainsKey(KernelFileName) || !manifest.Files.ContainsKey(InitrdFileName))
        {
            problem = "manifest does not list the kernel and initramfs";
            return false;
        }
        problem = manifest.FindMismatch(imageDirectory);
        if (problem is not null) return false;
        image = new GuestImage(Path.Combine(imageDirectory, KernelFileName), Path.Combine(imageDirectory, InitrdFileName),
            manifest.KernelRelease, manifest);
        return true;
    }

    /// <summary>True when the file starts like a bzImage: the setup header signature "HdrS" at offset 0x202.</summary>
    public static bool IsBzImage(string kernelPath)
    {
        Span<byte> signature = stackalloc byte[4];
        using var stream = new FileStream(kernelPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (stream.Length < 0x206) return false;
        stream.Position = 0x202;
        stream.ReadExactly(signature);
        return signature.SequenceEqual("HdrS"u8);
    }

    private static async Task<GuestImage> BuildAsync(string directory, IProgress<string>? progress, CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        Directory.CreateDirectory(directory);
        // Nothing is valid from here until the new manifest is written.
        File.Delete(Path.Combine(directory, ManifestFileName));
        // Temporary files of a build that crashed (we hold the lock, so no build is running).
        foreach (string leftover in Directory.GetFiles(directory, "*.tmp-*")) File.Delete(leftover);
        string staging = directory + ".build";
        DeleteDirectoryIfPresent(staging);
        DirectoryInfo downloads = Directory.CreateTempSubdirectory("sharpvisor-apt-");
        try
        {
            var fetcher = new DebianPackageFetcher(progress);
            var downloaded = await fetcher.ResolveAndDownloadAsync(async token =>
            {
                var found = await fetcher.ShowAsync([KernelMetaPackage, BusyboxPackage], token).ConfigureAwait(false);
                string kernelName = found[0].FindDependency("linux-image-")
                    ?? throw new GuestImageException($"{KernelMetaPackage} depends on no linux-image package ({found[0].Depends}).");
                return [await fetcher.ShowAsync(kernelName, token).ConfigureAwait(false), found[1]];
            }, downloads.FullName, ct).ConfigureAwait(false);
            var (kernelPackage, kernelDeb) = downloaded[0];
            var (busyboxPackage, busyboxDeb) = downloaded[1];

            string root = Path.Combine(staging, "root");
            await fetcher.ExtractAsync(kernelDeb, root, ct).ConfigureAwait(false);
            await fetcher.ExtractAsync(busyboxDeb, root, ct).ConfigureAwait(false);

            string modulesParent = FindInPackage(root, "lib/modules")
                ?? throw new GuestImageException($"{kernelPackage.Name} has no lib/modules folder.");
            string release = FindKernelRelease(modulesParent);
            string unpackedKernel = Path.Combine(root, "boot", $"vmlinuz-{release}");
            if (!File.Exists(unpackedKernel)) throw new GuestImageException($"{kernelPackage.Name} has no boot/vmlinuz-{release}.");
            if (!IsBzImage(unpackedKernel)) throw new GuestImageException($"{unpackedKernel} is not a bzImage.");
            string busybox = FindInPackage(root, "bin/busybox")
                ?? throw new GuestImageException($"{busyboxPackage.Name} has no bin/busybox.");

            var builder = new InitramfsBuilder(busybox, Path.Combine(modulesParent, release), release)
            {
                // The package's build time, so the same packages give a byte-identical initramfs.
                Timestamp = File.GetLastWriteTimeUtc(unpackedKernel),
            };
            string initrdPath = Path.Combine(directory, InitrdFileName);
            string initrdTemporary = AtomicFile.TemporaryNameFor(initrdPath);
            InitramfsBuildResult initramfs;
            try
            {
                initramfs = await builder.BuildAsync(initrdTemporary, progress, ct).ConfigureAwait(false);
                AtomicFile.Commit(initrdTemporary, initrdPath);
            }
            finally
            {
                File.Delete(initrdTemporary);
            }
            string kernelPath = Path.Combine(directory, KernelFileName);
            AtomicFile.Copy(unpackedKernel, kernelPath);

            var manifest = new GuestImageManifest
            {
                ImageName = ImageName,
                KernelPackage = kernelPackage.Name,
                KernelPackageVersion = kernelPackage.Version,
                KernelRelease = release,
                BusyboxPackage = busyboxPackage.Name,
                BusyboxVersion = busyboxPackage.Version,
                Modules = initramfs.ModuleLoadOrder.Select(m => m.Name).ToArray(),
                Files = new Dictionary<string, GuestImageFile>
                {
                    [KernelFileName] = GuestImageManifest.Describe(kernelPath),
                    [InitrdFileName] = GuestImageManifest.Describe(initrdPath),
                },
                BuiltAt = DateTimeOffset.UtcNow,
            };
            AtomicFile.WriteAllBytes(Path.Combine(directory, ManifestFileName), Encoding.UTF8.GetBytes(manifest.ToJson()));
            progress?.Report($"guest image ready: kernel {release}, {stopwatch.Elapsed.TotalSeconds:0.0} s");

            if (!TryLoad(directory, out var image, out string? problem))
                throw new GuestImageException($"The image just built does not verify: {problem}");
            return image!;
        }
        finally
        {
            DeleteDirectoryIfPresent(staging);
            DeleteDirectoryIfPresent(downloads.FullName);
        }
    }

    /// <summary>A path in an unpacked package, under / or, on merged-/usr releases, under /usr.</summary>
    private static string? FindInPackage(string root, string relativePath)
    {
        foreach (string candidate in new[] { Path.Combine(root, relativePath), Path.Combine(root, "usr", relativePath) })
        {
            if (File.Exists(candidate) || Directory.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>The single folder under lib/modules of an unpacked kernel package: its `uname -r`.</summary>
    private static string FindKernelRelease(string modules)
    {
        string[] releases = Directory.GetDirectories(modules);
        if (releases.Length != 1)
            throw new GuestImageException($"Expected one kernel release under {modules}, found {releases.Length}.");
        return Path.GetFileName(releases[0]);
    }

    private static void DeleteDirectoryIfPresent(string path)
    {
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
    }
}
