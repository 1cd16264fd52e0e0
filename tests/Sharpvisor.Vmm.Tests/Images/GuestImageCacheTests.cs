using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

public sealed class GuestImageCacheTests
{
    [Fact]
    public void Root_is_SHARPVISOR_CACHE_when_set_else_home_dot_cache()
    {
        var environment = new Dictionary<string, string?> { ["HOME"] = "/home/someone" };
        Assert.Equal("/home/someone/.cache/sharpvisor", GuestImageCache.ResolveRoot(environment.GetValueOrDefault));
        environment["SHARPVISOR_CACHE"] = "/var/tmp/sv";
        Assert.Equal("/var/tmp/sv", GuestImageCache.ResolveRoot(environment.GetValueOrDefault));
        environment["SHARPVISOR_CACHE"] = "";
        Assert.Equal("/home/someone/.cache/sharpvisor", GuestImageCache.ResolveRoot(environment.GetValueOrDefault));
        Assert.Equal("/var/tmp/sv/images/debian-cloud", GuestImageCache.ImageDirectory("/var/tmp/sv", DefaultGuestImage.ImageName));
    }
}
