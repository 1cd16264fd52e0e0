namespace Sharpvisor.Vmm.Images;

/// <summary>One entry of a newc cpio archive.</summary>
/// <param name="Name">The stored name, relative ("bin/busybox").</param>
/// <param name="Mode">st_mode: file type bits and permissions.</param>
/// <param name="Data">The file's bytes (a symlink's target for links, empty for directories and devices).</param>
public sealed record CpioEntry(string Name, uint Mode, ReadOnlyMemory<byte> Data)
{
    private const uint TypeMask = 0xF000;

    public bool IsRegularFile => (Mode & TypeMask) == 0x8000;
    public bool IsDirectory => (Mode & TypeMask) == 0x4000;
    public bool IsSymbolicLink => (Mode & TypeMask) == 0xA000;
}
