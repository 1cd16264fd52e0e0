using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Boot;

/// <summary>
/// Loads a kernel into guest memory whatever its format: a Linux bzImage (64-bit boot protocol) or an ELF with a
/// PVH entry note. Builds the E820 map from guest RAM and returns the boot vCPU's initial state.
/// </summary>
public static class KernelLoader
{
    /// <summary>The format of <paramref name="image"/>, recognised from its bytes.</summary>
    public static KernelImageFormat DetectFormat(ReadOnlySpan<byte> image)
    {
        if (ElfImage.HasElfMagic(image)) return KernelImageFormat.PvhElf;
        // Either bzImage marker is enough to route the image to the bzImage parser, whose errors are specific.
        bool bootFlag = image.Length >= 0x200 && image[0x1FE] == 0x55 && image[0x1FF] == 0xAA;
        bool hdrS = image.Length >= 0x206 && image.Slice(0x202, 4).SequenceEqual("HdrS"u8);
        if (bootFlag || hdrS) return KernelImageFormat.BzImage;
        throw new KernelImageException(
            $"unrecognised kernel image ({image.Length} bytes): neither an ELF file nor a Linux bzImage " +
            "(no \\x7fELF magic, no 0xAA55 boot flag at 0x1FE, no \"HdrS\" at 0x202)");
    }

    /// <param name="initrd">The initial ramdisk, or empty for none.</param>
    /// <param name="rsdpAddress">Where the ACPI RSDP is (see Acpi.AcpiTableBuilder), or 0 for none.</param>
    public static LoadedKernel Load(GuestMemory memory, ReadOnlySpan<byte> kernel, ReadOnlySpan<byte> initrd,
        string commandLine, ulong rsdpAddress)
    {
        var map = E820Map.ForGuestMemory(memory);
        return DetectFormat(kernel) switch
        {
            KernelImageFormat.BzImage => BzImageLoader.Load(memory, kernel, initrd, commandLine, rsdpAddress, map),
            _ => PvhLoader.Load(memory, kernel, initrd, commandLine, rsdpAddress, map),
        };
    }
}
