using Sharpvisor.Vmm.Images;
using Sharpvisor.Coverage.Elf;
using Sharpvisor.Coverage.Kernel;

namespace Sharpvisor.Coverage.Census;

/// <summary>Finds the code to count: files named on the command line, or the default guest image's.</summary>
public static class CensusInputs
{
    public const string BusyboxPath = "bin/busybox";

    /// <summary>An ELF file, or a bzImage whose vmlinux is extracted.</summary>
    /// <exception cref="InvalidDataException">The file is neither.</exception>
    public static CensusInput FromFile(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        string name = Path.GetFileName(path);
        if (ElfFile.HasMagic(bytes)) return new CensusInput(name, [ElfFile.Parse(bytes)]);
        if (BzImage.IsBzImage(bytes)) return new CensusInput($"{name} (vmlinux)", [ElfFile.Parse(BzImage.ExtractVmlinux(bytes))]);
        throw new InvalidDataException($"{path} is neither an ELF file nor a bzImage.");
    }

    /// <summary>
    /// The default guest (built into the cache if missing): the kernel's vmlinux, busybox from the initramfs, and
    /// the kernel modules the initramfs carries (counted together as one line).
    /// </summary>
    public static async Task<IReadOnlyList<CensusInput>> FromDefaultGuestAsync(IProgress<string>? progress, CancellationToken ct)
    {
        GuestImage image = await DefaultGuestImage.EnsureAsync(progress, ct).ConfigureAwait(false);
        byte[] kernel = await File.ReadAllBytesAsync(image.KernelPath, ct).ConfigureAwait(false);
        var vmlinux = ElfFile.Parse(BzImage.ExtractVmlinux(kernel));
        var entries = CpioNewcReader.ReadGzipped(await File.ReadAllBytesAsync(image.InitrdPath, ct).ConfigureAwait(false));
        var busybox = FindBusybox(entries);
        var modules = entries.Where(e => e.IsRegularFile && e.Name.EndsWith(".ko", StringComparison.Ordinal))
            .Select(e => ElfFile.Parse(e.Data)).ToArray();
        var inputs = new List<CensusInput>
        {
            new($"vmlinux {image.KernelVersion}", [vmlinux]),
            new($"busybox {image.Manifest.BusyboxVersion}", [ElfFile.Parse(busybox.Data)]),
        };
        if (modules.Length > 0) inputs.Add(new CensusInput($"modules ({modules.Length} .ko in the initramfs)", modules));
        return inputs;
    }

    /// <summary>The busybox binary of an initramfs.</summary>
    /// <exception cref="InvalidDataException">The archive has no regular file bin/busybox.</exception>
    public static CpioEntry FindBusybox(IReadOnlyList<CpioEntry> entries) =>
        entries.FirstOrDefault(e => e.Name.TrimStart('/') == BusyboxPath && e.IsRegularFile)
        ?? throw new InvalidDataException($"The initramfs has no regular file {BusyboxPath}.");
}
