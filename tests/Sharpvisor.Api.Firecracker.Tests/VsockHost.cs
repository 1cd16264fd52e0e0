using System.Net.Sockets;
using System.Text;

namespace Sharpvisor.Api.Firecracker.Tests;

/// <summary>A host program on Firecracker's vsock socket: CONNECT port, then OK hostport.</summary>
public static class VsockHost
{
    /// <summary>Connects to the guest's <paramref name="port"/>, retrying while its listener is not up yet (RST: no OK line).</summary>
    public static Socket Connect(string udsPath, uint port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            if (File.Exists(udsPath))
            {
                socket.Connect(new UnixDomainSocketEndPoint(udsPath));
                socket.Send(Encoding.ASCII.GetBytes($"CONNECT {port}\n"));
                if (ReadLine(socket, timeout).StartsWith("OK ", StringComparison.Ordinal)) return socket;
            }
            socket.Dispose();
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the guest never accepted vsock port {port} through {udsPath}");
            Thread.Sleep(500);
        }
    }

    private static string ReadLine(Socket socket, TimeSpan timeout)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        while (socket.Receive(one) == 1 && one[0] != '\n') line.Append((char)one[0]);
        return line.ToString();
    }
}
