namespace Sharpvisor.Host.SerialConsole;

/// <summary>
/// The last output of a VM's serial console, kept in a file in its folder: appended as it arrives, cut back to the
/// newest <see cref="Capacity"/> bytes when it has grown to twice that. Reading it consumes nothing, and it outlives
/// guest reboots, VMM restarts and the daemon.
/// </summary>
public sealed class ConsoleLog(string path, int capacity = ConsoleLog.DefaultCapacity)
{
    public const int DefaultCapacity = 256 * 1024;
    private readonly Lock _lock = new();

    public string Path { get; } = path;
    public int Capacity { get; } = capacity;

    // Kept open while output arrives: a booting guest prints its console a few bytes at a time, and each piece would
    // otherwise open and close the file.
    private FileStream? _appending;

    public void Append(ReadOnlySpan<byte> output)
    {
        lock (_lock)
        {
            _appending ??= new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            _appending.Write(output);
            if (_appending.Length > 2L * Capacity) Trim();
        }
    }

    /// <summary>Closes the file until the next output (the VMM has ended).</summary>
    public void Close()
    {
        lock (_lock)
        {
            _appending?.Dispose();
            _appending = null;
        }
    }

    /// <summary>The newest output, at most <see cref="Capacity"/> bytes.</summary>
    public byte[] Read()
    {
        lock (_lock)
        {
            if (!File.Exists(Path)) return [];
            using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            long start = Math.Max(0, stream.Length - Capacity);
            stream.Position = start;
            var bytes = new byte[stream.Length - start];
            stream.ReadExactly(bytes);
            return bytes;
        }
    }

    private void Trim()
    {
        _appending?.Dispose();
        _appending = null;
        byte[] newest = Read();
        string temporary = Path + ".trim";
        File.WriteAllBytes(temporary, newest);
        File.Move(temporary, Path, overwrite: true);
    }
}
