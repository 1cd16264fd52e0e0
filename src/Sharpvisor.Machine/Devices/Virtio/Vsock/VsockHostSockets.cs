using System.Net.Sockets;

namespace Sharpvisor.Machine.Devices.Virtio.Vsock;

/// <summary>
/// Firecracker's host side of vsock: the host reaches the guest through one listening unix socket (<c>uds_path</c>)
/// and the guest reaches host port P at the unix socket <c>uds_path_P</c>.
/// </summary>
public static class VsockHostSockets
{
    /// <summary>
    /// Listens on <paramref name="path"/>. A socket file nobody listens on (left by a VMM that was killed) is replaced;
    /// anything else there is an error naming it, so a live VMM's socket is never taken over.
    /// </summary>
    public static Socket Listen(string path)
    {
        if (File.Exists(path) || Directory.Exists(path))
        {
            if ((File.GetAttributes(path) & FileAttributes.Directory) != 0 || !IsStaleSocket(path))
                throw new IOException($"vsock uds_path {path} already exists (another VMM's socket, or not a socket); remove it first");
            File.Delete(path);
        }
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(128);
            listener.Blocking = false;
            return listener;
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new IOException($"cannot listen on vsock uds_path {path}: {e.Message}", e);
        }
    }

    /// <summary>Connects to <c>uds_path_port</c> for a guest's request; null when nothing listens there.</summary>
    public static Socket? ConnectForGuest(string udsPath, uint port)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint($"{udsPath}_{port}"));
            socket.Blocking = false;
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    private static bool IsStaleSocket(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return false;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode == SocketError.ConnectionRefused;
        }
    }
}
