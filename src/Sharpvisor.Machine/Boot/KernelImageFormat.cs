namespace Sharpvisor.Machine.Boot;

/// <summary>The kernel formats <see cref="KernelLoader"/> recognises.</summary>
public enum KernelImageFormat
{
    /// <summary>A Linux bzImage, entered through the 64-bit boot protocol.</summary>
    BzImage,
    /// <summary>An ELF (32- or 64-bit) with a Xen PVH entry note, entered in 32-bit protected mode.</summary>
    PvhElf,
}
