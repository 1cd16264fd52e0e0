namespace Sharpvisor.Vmm.Configuration;

/// <summary>A virtio-blk disk: a raw image file, read-write unless <see cref="ReadOnly"/>. Written PATH[,ro] on the command line.</summary>
public sealed record DiskSpec(string Path, bool ReadOnly = false)
{
    /// <summary>Parses "PATH" or "PATH,ro" (also "PATH,rw"); throws <see cref="FormatException"/>.</summary>
    public static DiskSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string path = text;
        bool readOnly = false;
        int comma = text.LastIndexOf(',');
        if (comma >= 0)
        {
            string option = text[(comma + 1)..];
            if (option is "ro" or "rw")
            {
                readOnly = option == "ro";
                path = text[..comma];
            }
            else
            {
                throw new FormatException($"disk option '{option}' is not ro or rw (--disk PATH[,ro])");
            }
        }
        if (path.Length == 0) throw new FormatException("--disk needs a file path");
        return new DiskSpec(path, readOnly);
    }

    public override string ToString() => ReadOnly ? $"{Path},ro" : Path;
}
