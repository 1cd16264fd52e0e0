namespace Sharpvisor.Vmm.Images;

/// <summary>
/// An exclusive lock on a cache entry shared by processes: the lock file is opened with FileShare.None, which .NET
/// implements on Linux as a non-blocking flock(LOCK_EX); the kernel drops it when the holder exits or crashes.
/// The file is never deleted, so two processes cannot end up locking two different files of the same name.
/// </summary>
public sealed class CacheLock : IDisposable
{
    private readonly FileStream _stream;

    private CacheLock(FileStream stream)
    {
        _stream = stream;
    }

    public string Path => _stream.Name;

    /// <summary>Takes the lock if no one holds it, else returns null.</summary>
    public static CacheLock? TryAcquire(string lockFilePath)
    {
        try
        {
            var stream = new FileStream(lockFilePath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            // Who holds it, for anyone inspecting a stuck build.
            stream.SetLength(0);
            stream.Write(System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
            stream.Flush();
            return new CacheLock(stream);
        }
        catch (IOException) when (File.Exists(lockFilePath))
        {
            return null;
        }
    }

    /// <summary>Waits until the lock is free and takes it; says once through progress that it is waiting.</summary>
    public static async Task<CacheLock> AcquireAsync(string lockFilePath, IProgress<string>? progress, CancellationToken ct)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(lockFilePath))!);
        bool told = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var acquired = TryAcquire(lockFilePath);
            if (acquired is not null) return acquired;
            if (!told)
            {
                progress?.Report($"waiting for another process that holds {lockFilePath}");
                told = true;
            }
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    public void Dispose() => _stream.Dispose();
}
