using System.Text;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

public sealed class GuestImageManifestTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sharpvisor-manifest-test-");

    public void Dispose() => _directory.Delete(recursive: true);

    /// <summary>A fake image folder: two files and a manifest describing them, as the builder writes it.</summary>
    private GuestImageManifest WriteImage()
    {
        string kernel = Path.Combine(_directory.FullName, DefaultGuestImage.KernelFileName);
        string initrd = Path.Combine(_directory.FullName, DefaultGuestImage.InitrdFileName);
        var random = new Random(99);
        byte[] kernelBytes = new byte[70_000];
        random.NextBytes(kernelBytes);
        File.WriteAllBytes(kernel, kernelBytes);
        File.WriteAllBytes(initrd, "not really gzip"u8.ToArray());
        var manifest = new GuestImageManifest
        {
            ImageName = DefaultGuestImage.ImageName,
            KernelPackage = "linux-image-6.1.0-99-cloud-amd64",
            KernelPackageVersion = "6.1.999-1",
            KernelRelease = "6.1.0-99-cloud-amd64",
            BusyboxPackage = "busybox-static",
            BusyboxVersion = "1:1.35.0-4+deb12u1",
            Modules = ["virtio_ring", "virtio"],
            Files = new Dictionary<string, GuestImageFile>
            {
                [DefaultGuestImage.KernelFileName] = GuestImageManifest.Describe(kernel),
                [DefaultGuestImage.InitrdFileName] = GuestImageManifest.Describe(initrd),
            },
            BuiltAt = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
        };
        File.WriteAllText(Path.Combine(_directory.FullName, DefaultGuestImage.ManifestFileName), manifest.ToJson());
        return manifest;
    }

    [Fact]
    public void An_intact_image_loads_with_the_release_from_the_manifest()
    {
        WriteImage();
        Assert.True(DefaultGuestImage.TryLoad(_directory.FullName, out var image, out string? problem), problem);
        Assert.Equal("6.1.0-99-cloud-amd64", image!.KernelVersion);
        Assert.Equal(Path.Combine(_directory.FullName, "vmlinuz"), image.KernelPath);
        Assert.Equal(["virtio_ring", "virtio"], image.Manifest.Modules);
    }

    [Fact]
    public void A_corrupted_kernel_byte_fails_verification()
    {
        WriteImage();
        string kernel = Path.Combine(_directory.FullName, DefaultGuestImage.KernelFileName);
        byte[] bytes = File.ReadAllBytes(kernel);
        bytes[12_345] ^= 0x01; // same size, one bit different
        File.WriteAllBytes(kernel, bytes);

        Assert.False(DefaultGuestImage.TryLoad(_directory.FullName, out var image, out string? problem));
        Assert.Null(image);
        Assert.Contains("vmlinuz has SHA-256", problem);
    }

    [Fact]
    public void Truncated_missing_or_unparsable_parts_fail_verification()
    {
        WriteImage();
        string initrd = Path.Combine(_directory.FullName, DefaultGuestImage.InitrdFileName);
        File.WriteAllText(initrd, "short");
        Assert.False(DefaultGuestImage.TryLoad(_directory.FullName, out _, out string? problem));
        Assert.Contains("initramfs.cpio.gz has 5 bytes", problem);

        File.Delete(initrd);
        Assert.False(DefaultGuestImage.TryLoad(_directory.FullName, out _, out problem));
        Assert.Contains("missing", problem);

        File.WriteAllText(Path.Combine(_directory.FullName, DefaultGuestImage.ManifestFileName), "{ \"version\": 1, ");
        Assert.False(DefaultGuestImage.TryLoad(_directory.FullName, out _, out problem));
        Assert.Contains("unreadable manifest", problem);

        File.Delete(Path.Combine(_directory.FullName, DefaultGuestImage.ManifestFileName));
        Assert.False(DefaultGuestImage.TryLoad(_directory.FullName, out _, out problem));
        Assert.Equal("not built yet", problem);
    }

    [Fact]
    public void A_manifest_of_another_layout_version_is_not_trusted()
    {
        var manifest = WriteImage() with { Version = GuestImageManifest.CurrentVersion + 1 };
        File.WriteAllText(Path.Combine(_directory.FullName, DefaultGuestImage.ManifestFileName), manifest.ToJson());
        Assert.False(DefaultGuestImage.TryLoad(_directory.FullName, out _, out string? problem));
        Assert.Contains("version", problem);
    }

    [Fact]
    public void Json_round_trip_keeps_every_field()
    {
        var manifest = WriteImage();
        string json = manifest.ToJson();
        var back = GuestImageManifest.FromJson(json);
        Assert.Equal(manifest.KernelPackage, back.KernelPackage);
        Assert.Equal(manifest.KernelPackageVersion, back.KernelPackageVersion);
        Assert.Equal(manifest.BusyboxVersion, back.BusyboxVersion);
        Assert.Equal(manifest.BuiltAt, back.BuiltAt);
        Assert.Equal(manifest.Modules, back.Modules);
        Assert.Equal(manifest.Files[DefaultGuestImage.KernelFileName], back.Files[DefaultGuestImage.KernelFileName]);
        Assert.Contains("\"kernelRelease\": \"6.1.0-99-cloud-amd64\"", json);
        Assert.Contains("\"sha256\": \"", json);
        Assert.Contains("\"busyboxVersion\": \"1:1.35.0-4+deb12u1\"", json);
        Assert.Throws<System.Text.Json.JsonException>(() => GuestImageManifest.FromJson("{\"version\":1}"));
    }
}
