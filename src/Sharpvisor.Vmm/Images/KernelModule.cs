namespace Sharpvisor.Vmm.Images;

/// <summary>
/// One loadable kernel module: its name as the kernel knows it (dashes folded to underscores), its path relative to
/// /lib/modules/&lt;release&gt;/ (e.g. "kernel/drivers/block/virtio_blk.ko"), and the names of the modules it needs.
/// </summary>
public sealed record KernelModule(string Name, string RelativePath, IReadOnlyList<string> Dependencies)
{
    /// <summary>The kernel's module name for a file name or name: "virtio-rng.ko" and "virtio_rng" give "virtio_rng".</summary>
    public static string NormalizeName(string fileOrModuleName)
    {
        string name = Path.GetFileName(fileOrModuleName);
        foreach (string suffix in new[] { ".ko.xz", ".ko.zst", ".ko.gz", ".ko" })
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
            {
                name = name[..^suffix.Length];
                break;
            }
        }
        return name.Replace('-', '_');
    }
}
