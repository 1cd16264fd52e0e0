namespace Sharpvisor.Vmm.Images;

/// <summary>What <see cref="InitramfsBuilder.BuildAsync"/> put into the archive.</summary>
/// <param name="EntryCount">cpio entries (files, directories, links, devices), without the trailer.</param>
/// <param name="UncompressedBytes">Size of the cpio archive before gzip.</param>
/// <param name="CompressedBytes">Size of the gzip'd file written.</param>
/// <param name="ModuleLoadOrder">The modules /init loads, in that order (dependencies first).</param>
/// <param name="AppletCount">Busybox applet links created.</param>
public sealed record InitramfsBuildResult(
    int EntryCount,
    long UncompressedBytes,
    long CompressedBytes,
    IReadOnlyList<KernelModule> ModuleLoadOrder,
    int AppletCount);
