namespace Sharpvisor.Vmm.Configuration;

/// <summary>
/// A virtio-blk disk: a raw or qcow2 image, read-write unless <see cref="ReadOnly"/>, its format named or (null) found
/// by its magic. Written PATH[,ro][,format=raw|qcow2] on the command line.
/// </summary>
public sealed record DiskSpec(string Path, bool ReadOnly = false, string? Format = null)
{
    public static readonly string[] Formats = ["raw", "qcow2"];

    /// <summary>Parses "PATH" with options "ro", "rw" and "format=raw|qcow2" after commas; throws <see cref="FormatException"/>.</summary>
    public static DiskSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string path = text;
        bool readOnly = false;
        string? format = null;
        // Options are peeled from the end, so a path may itself hold commas.
        for (int comma = path.LastIndexOf(','); comma >= 0; comma = path.LastIndexOf(','))
        {
            string option = path[(comma + 1)..];
            if (option is "ro" or "rw") readOnly = option == "ro";
            else if (option.StartsWith("format=", StringComparison.Ordinal) && Formats.Contains(option[7..])) format = option[7..];
            else if (option.StartsWith("format=", StringComparison.Ordinal))
                throw new FormatException($"disk format '{option[7..]}' is not raw or qcow2");
            else if (path == text) throw new FormatException($"disk option '{option}' is not ro, rw or format=raw|qcow2 (--disk PATH[,ro][,format=F])");
            else break; // a comma inside the path, before the options
            path = path[..comma];
        }
        if (path.Length == 0) throw new FormatException("--disk needs a file path");
        return new DiskSpec(path, readOnly, format);
    }

    public override string ToString() => Path + (ReadOnly ? ",ro" : "") + (Format is null ? "" : $",format={Format}");
}
