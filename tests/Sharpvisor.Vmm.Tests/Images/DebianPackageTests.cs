using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

public sealed class DebianPackageTests
{
    [Fact]
    public void The_versioned_kernel_is_found_in_the_metapackage_depends()
    {
        var meta = new DebianPackage("linux-image-cloud-amd64", "6.1.123-1", 1234,
            "linux-image-6.1.0-28-cloud-amd64 (= 6.1.123-1)");
        Assert.Equal("linux-image-6.1.0-28-cloud-amd64", meta.FindDependency("linux-image-"));
        Assert.Equal("linux-image-cloud-amd64=6.1.123-1", meta.PinnedName);

        var alternatives = new DebianPackage("x", "1", 0, "libc6 (>= 2.34), initramfs-tools | linux-initramfs-tool, linux-image-6.12.9-cloud-amd64-unsigned | linux-image-6.12.9-cloud-amd64");
        Assert.Equal("linux-image-6.12.9-cloud-amd64-unsigned", alternatives.FindDependency("linux-image-"));
        Assert.Null(new DebianPackage("linux-image-foo", "1", 0, "linux-image-foo, kmod").FindDependency("linux-image-"));
        Assert.Equal("25.5 MiB", DebianPackageFetcher.FormatMebibytes(26_713_492));
    }
}
