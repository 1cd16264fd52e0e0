namespace Sharpvisor.Vmm.Images;

/// <summary>
/// Unpacks a newc cpio archive (optionally gzip'd), as <see cref="CpioNewcWriter"/> writes them, into a folder:
/// directories, regular files with their permission bits, and symbolic links. Device nodes are skipped (a root file
/// system gets its /dev from devtmpfs). Paths that would leave the folder are refused.
/// </summary>
public static class CpioNewcExtractor
{
    /// <summary>Unpacks <paramref name="archivePath"/> into <paramref name="directory"/>; returns the number of entries written.</summary>
    public static int ExtractTo(string archivePath, string directory)
    {
        using var file = File.OpenRead(archivePath);
        return ExtractTo(file, directory);
    }

    public static int ExtractTo(Stream input, string directory)
    {
        var bytes = new MemoryStream();
        input.CopyTo(bytes);
        var archive = bytes.GetBuffer().AsMemory(0, (int)bytes.Length);
        IReadOnlyList<CpioEntry> entries;
        try
        {
            entries = archive.Length >= 2 && archive.Span[0] == 0x1F && archive.Span[1] == 0x8B
                ? CpioNewcReader.ReadGzipped(archive)
                : CpioNewcReader.Read(archive);
        }
        catch (InvalidDataException e)
        {
            throw new GuestImageException($"not a readable newc cpio archive: {e.Message}");
        }

        string root = Path.GetFullPath(directory);
        Directory.CreateDirectory(root);
        int written = 0;
        foreach (var entry in entries)
        {
            string relative = entry.Name.TrimStart('/');
            if (relative is "" or ".") continue;
            string target = Path.GetFullPath(Path.Combine(root, relative));
            if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new GuestImageException($"cpio entry '{entry.Name}' points outside the folder");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var permissions = (UnixFileMode)(entry.Mode & 0xFFF);
            if (entry.IsDirectory)
            {
                Directory.CreateDirectory(target);
                File.SetUnixFileMode(target, permissions);
            }
            else if (entry.IsRegularFile)
            {
                File.WriteAllBytes(target, entry.Data.ToArray());
                File.SetUnixFileMode(target, permissions);
            }
            else if (entry.IsSymbolicLink)
                File.CreateSymbolicLink(target, System.Text.Encoding.UTF8.GetString(entry.Data.Span));
            else continue;   // device nodes, fifos, sockets
            written++;
        }
        return written;
    }
}
