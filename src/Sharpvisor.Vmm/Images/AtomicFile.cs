using Sharpvisor.Machine.Native;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// Replaces files so readers see either the old or the new content, never a partial one: write a temporary file
/// in the same folder, fsync it, rename it over the target, fsync the folder so the rename survives a crash.
/// </summary>
internal static class AtomicFile
{
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content)
    {
        string temporary = TemporaryNameFor(path);
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            Commit(temporary, path);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    public static void Copy(string source, string path)
    {
        string temporary = TemporaryNameFor(path);
        try
        {
            using (var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
            using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                input.CopyTo(output);
                output.Flush(flushToDisk: true);
            }
            Commit(temporary, path);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Renames an already fsync'ed file over <paramref name="path"/> and makes the rename durable.</summary>
    public static void Commit(string temporary, string path)
    {
        File.Move(temporary, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    public static string TemporaryNameFor(string path) =>
        $"{path}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";

    private static void SyncDirectory(string directory)
    {
        int fd = Libc.open(directory, Libc.ORdOnly | Libc.ODirectory);
        if (fd < 0) return; // durability only; the rename itself already happened
        try { Libc.fsync(fd); }
        finally { Libc.close(fd); }
    }

}
