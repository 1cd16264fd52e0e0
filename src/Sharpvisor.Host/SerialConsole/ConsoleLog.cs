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

    public void Append(ReadOnlySpan<byte> output)
    {
        lock (_lock)
        {
            long length;
            using (var stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
            {
                stream.Write(output);
                length = stream.Length;
            }
            if (length > 2L * Capacity) Trim();
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
        byte[] newest = Read();
        string temporary = Path + ".trim";
        File.WriteAllBytes(temporary, newest);
        File.Move(temporary, Path, overwrite: true);
    }
}
