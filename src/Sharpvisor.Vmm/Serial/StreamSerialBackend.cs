namespace Sharpvisor.Vmm.Serial;

/// <summary>
/// Serial over streams: the VMM's stdin and stdout, or a file for output only. With <c>escapes</c> (a raw terminal),
/// Ctrl-A x quits as in QEMU; piped input is passed through untouched. Output is written as the guest transmits it,
/// waiting out a full non-blocking stdout (<see cref="WritableWait"/>), so nothing the guest wrote is lost at power-off.
/// </summary>
public sealed class StreamSerialBackend(Stream output, Stream? input, bool escapes) : ISerialBackend
{
    private readonly object _writeLock = new();
    private long _stalledSince; // when writes started failing with EAGAIN, 0 while they succeed (guarded by _writeLock)
    private Thread? _reader;
    private volatile bool _disposed;

    public void Write(byte value)
    {
        if (_disposed) return;
        lock (_writeLock)
        {
            // A full non-blocking output (EAGAIN) holds the vCPU until the reader catches up, as a real UART's THR stays
            // full: dropping the byte lost most of a 20 KB line written just before power-off to a one-page pipe.
            while (true)
            {
                try
                {
                    output.WriteByte(value);
                    output.Flush();
                    _stalledSince = 0;
                    return;
                }
                catch (IOException e) when (e.HResult == WritableWait.Eagain && WritableWait.Wait(output, ref _stalledSince)) { }
                catch (IOException) { return; } // the reader went away (a closed pipe): the guest keeps running
                catch (ObjectDisposedException) { return; }
            }
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
