namespace Sharpvisor.Vmm.Images;

/// <summary>A verified guest image in the cache: the kernel (a bzImage), its initramfs, and what it was built from.</summary>
/// <param name="KernelPath">The bzImage to boot.</param>
/// <param name="InitrdPath">The gzip'd cpio initramfs.</param>
/// <param name="KernelVersion">Exactly what `uname -r` prints in the guest, e.g. 6.1.0-28-cloud-amd64.</param>
/// <param name="Manifest">The manifest the files were verified against.</param>
public sealed record GuestImage(string KernelPath, string InitrdPath, string KernelVersion, GuestImageManifest Manifest);
