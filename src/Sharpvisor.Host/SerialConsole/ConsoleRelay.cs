using System.Net.Sockets;
using System.Threading.Channels;

namespace Sharpvisor.Host.SerialConsole;

/// <summary>
/// The daemon's end of one VMM's serial console (the VMM's `--serial unix:PATH`, which serves one client): reads
/// the guest's output into the VM's <see cref="ConsoleLog"/> and to every viewer attached, and types viewers' input
/// into the guest. A slow viewer loses output rather than holding up the others.
/// </summary>
public sealed class ConsoleRelay : IDisposable
{
    private const int ViewerBacklog = 256; // chunks of up to 4 KiB a viewer may fall behind by
    private readonly Socket _socket;
    private readonly ConsoleLog _log;
    private readonly Lock _viewersLock = new();
    private readonly List<Channel<byte[]>> _viewers = [];
    private readonly CancellationTokenSource _stop = new();

    private ConsoleRelay(Socket socket, ConsoleLog log)
    {
        _socket = socket;
        _log = log;
        new Thread(Pump) { IsBackground = true, Name = "console relay" }.Start();
    }

    /// <summary>Connects to the VMM's console socket, waiting up to <paramref name="timeout"/> for it to appear.</summary>
    public static async Task<ConsoleRelay> ConnectAsync(string socketPath, ConsoleLog log, TimeSpan timeout, Func<bool> stillWanted)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath)).ConfigureAwait(false);
                return new ConsoleRelay(socket, log);
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && stillWanted())
            {
                socket.Dispose();
                await Task.Delay(50).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>Ends when the VMM closes the console (it has exited).</summary>
    public Task Closed => _closed.Task;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A viewer: output from now on (the log has what came before). Dispose the subscription to detach.</summary>
    public ConsoleSubscription Attach()
    {
        var channel = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(ViewerBacklog) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (_viewersLock) _viewers.Add(channel);
        if (_closed.Task.IsCompleted) channel.Writer.TryComplete();
        return new ConsoleSubscription(channel.Reader, () => { lock (_viewersLock) _viewers.Remove(channel); });
    }

    /// <summary>Types <paramref name="input"/> into the guest's console.</summary>
    public async Task WriteAsync(ReadOnlyMemory<byte> input, CancellationToken ct)
    {
        try { await _socket.SendAsync(input, SocketFlags.None, ct).ConfigureAwait(false); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { throw new IOException("the VM's console is closed", e); }
    }

    private void Pump()
    {
        var buffer = new byte[4096];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                int n = _socket.Receive(buffer);
                if (n == 0) break;
                var chunk = buffer.AsSpan(0, n).ToArray();
                try { _log.Append(chunk); }
                catch (IOException) { } // a full disk loses log, not the live console
                lock (_viewersLock)
                    foreach (var viewer in _viewers) viewer.Writer.TryWrite(chunk);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        finally
        {
            _log.Close();
            lock (_viewersLock)
                foreach (var viewer in _viewers) viewer.Writer.TryComplete();
            _closed.TrySetResult();
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
    }
}

/// <summary>One viewer's stream of console output; disposing it detaches the viewer.</summary>
public sealed class ConsoleSubscription(ChannelReader<byte[]> output, Action detach) : IDisposable
{
    public ChannelReader<byte[]> Output { get; } = output;
    public void Dispose() => detach();
}
