namespace Sharpvisor.Vmm.Serial;

/// <summary>
/// Serial over streams: the VMM's stdin and stdout, or a file for output only. With <c>escapes</c> (a raw terminal),
/// Ctrl-A x quits as in QEMU; piped input is passed through untouched.
/// </summary>
public sealed class StreamSerialBackend(Stream output, Stream? input, bool escapes) : ISerialBackend
{
    private readonly object _writeLock = new();
    private Thread? _reader;
    private volatile bool _disposed;

    public void Write(byte value)
    {
        if (_disposed) return;
        lock (_writeLock)
        {
            try
            {
                output.WriteByte(value);
                output.Flush();
            }
            catch (IOException) { } // the reader went away (a closed pipe): the guest keeps running
            catch (ObjectDisposedException) { }
        }
    }

    public void Start(Action<ReadOnlySpan<byte>> toGuest, Action quit)
    {
        if (input is null) return;
        _reader = new Thread(() => Pump(toGuest, quit)) { IsBackground = true, Name = "serial input" };
        _reader.Start();
    }

    private void Pump(Action<ReadOnlySpan<byte>> toGuest, Action quit)
    {
        var filter = new ConsoleEscapeFilter();
        var buffer = new byte[4096];
        var forGuest = new byte[4096];
        try
        {
            while (!_disposed)
            {
                int n = input!.Read(buffer, 0, buffer.Length);
                if (n <= 0) return; // end of input: the guest keeps running until it powers off
                if (!escapes)
                {
                    toGuest(buffer.AsSpan(0, n));
                    continue;
                }
                int m = filter.Filter(buffer.AsSpan(0, n), forGuest, out var command);
                if (m > 0) toGuest(forGuest.AsSpan(0, m));
                if (command == ConsoleEscapeFilter.Command.Help)
                    foreach (char c in ConsoleEscapeFilter.HelpText) Write((byte)c);
                if (command == ConsoleEscapeFilter.Command.Quit)
                {
                    quit();
                    return;
                }
            }
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        _disposed = true;
        lock (_writeLock)
        {
            try { output.Flush(); } catch (IOException) { } catch (ObjectDisposedException) { }
        }
    }
}
