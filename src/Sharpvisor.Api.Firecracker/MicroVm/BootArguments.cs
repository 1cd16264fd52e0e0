namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>
/// The kernel command line from boot-source's boot_args: as given, less the words that would hide our devices (our
/// virtio devices sit on PCI, and our initramfs loads their drivers as modules), plus root= for the root drive, as
/// Firecracker adds it.
/// </summary>
public static class BootArguments
{
    /// <summary>Firecracker's defaults without boot_args, less the ones that would switch off our console and PCI.</summary>
    public const string Default = "reboot=k panic=1";

    /// <summary>Words that would leave our machine without its devices: dropped, and reported.</summary>
    public static readonly string[] Dropped = ["pci=off", "nomodule"];

    public static (string CommandLine, IReadOnlyList<string> DroppedWords) Build(string? bootArgs, string? rootDevice, bool rootReadOnly, string? partUuid)
    {
        var words = (bootArgs ?? Default).Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        var dropped = words.Where(w => Dropped.Contains(w)).ToArray();
        words.RemoveAll(w => Dropped.Contains(w));
        if (rootDevice is not null)
        {
            words.Add(partUuid is { Length: > 0 } ? $"root=PARTUUID={partUuid}" : $"root={rootDevice}");
            words.Add(rootReadOnly ? "ro" : "rw");
        }
        return (string.Join(' ', words), dropped);
    }
}
