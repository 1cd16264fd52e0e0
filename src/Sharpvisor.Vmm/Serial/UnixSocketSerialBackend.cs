using System.Net.Sockets;

namespace Sharpvisor.Vmm.Serial;

/// <summary>
/// Serial on a Unix socket the VMM listens on: one client at a time reads the guest's output and types into it, as
/// with QEMU's -serial unix:PATH,server,nowait. Output before the first client connects (a supervisor connects a few
/// milliseconds after the VMM starts) is kept, up to 64 KiB, and handed to it; later output with no client is dropped.
/// </summary>
public sealed class UnixSocketSerialBackend : ISerialBackend
{
    private readonly string _path;
    private readonly Socket _listener;
    private volatile Socket? _client;
    private volatile bool _disposed;
    private readonly object _earlyLock = new();
    private byte[]? _early = new byte[EarlyCapacity]; // null once a client has had it
    private int _earlyCount;
    private const int EarlyCapacity = 64 * 1024;

    public UnixSocketSerialBackend(string path)
    {
        _path = path;
        if (File.Exists(path)) File.Delete(path);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(1);
    }

    public void Write(byte value)
    {
        var client = _client;
        if (client is null && _early is not null)
        {
            lock (_earlyLock)
            {
                if (_early is not null)
                {
                    if (_earlyCount < EarlyCapacity) _early[_earlyCount++] = value;
                    return;
                }
            }
            client = _client;
        }
        if (client is null) return;
        try { client.Send(new ReadOnlySpan<byte>(in value)); }
        catch (SocketException) { DropClient(client); }
        catch (ObjectDisposedException) { }
    }

    public void Start(Action<ReadOnlySpan<byte>> toGuest, Action quit)
    {
        new Thread(() => Serve(toGuest)) { IsBackground = true, Name = "serial socket" }.Start();
    }

    private void Serve(Action<ReadOnlySpan<byte>> toGuest)
    {
        var buffer = new byte[4096];
        while (!_disposed)
        {
            Socket client;
            try { client = _listener.Accept(); }
            catch (SocketException) { return; }
            catch (ObjectDisposedException) { return; }
            lock (_earlyLock)
            {
                // The first client gets what the guest printed before it came, then everything after, in order.
                if (_early is not null)
                {
                    try { client.Send(_early.AsSpan(0, _earlyCount)); }
                    catch (SocketException) { }
                    _early = null;
                }
                _client = client;
            }
            try
            {
                int n;
                while ((n = client.Receive(buffer)) > 0) toGuest(buffer.AsSpan(0, n));
            }
            catch (SocketException) { }
            catch (ObjectDisposedException) { }
            DropClient(client);
        }
    }

    private void DropClient(Socket client)
    {
        if (ReferenceEquals(_client, client)) _client = null;
        client.Dispose();
    }

    public void Dispose()
    {
        _disposed = true;
        _client?.Dispose();
        _listener.Dispose();
        try { File.Delete(_path); } catch (IOException) { }
    }
}
