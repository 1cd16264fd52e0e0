using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Vmm.Tests.Networking;

/// <summary>
/// A network namespace made with `ip netns add` for one test and deleted on dispose (with whatever interfaces were
/// moved into it). Sockets can be opened inside it from a thread that joins it with setns(2).
/// </summary>
internal sealed class NetworkNamespace : IDisposable
{
    private const int CloneNewNet = 0x40000000;

    public NetworkNamespace(string name)
    {
        Name = name;
        Ip($"netns add {name}");
    }

    public string Name { get; }

    /// <summary>Runs `ip ARGS` inside the namespace.</summary>
    public string Exec(string arguments) => Ip($"-n {Name} {arguments}");

    /// <summary>Opens a listening TCP socket on <paramref name="address"/>:<paramref name="port"/> inside the namespace.</summary>
    public Socket Listen(IPAddress address, int port) => Inside(() =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(address, port));
        socket.Listen(1);
        return socket;
    });

    /// <summary>Sends one UDP datagram from inside the namespace.</summary>
    public void SendUdp(IPAddress address, int port, byte[] payload) => Inside(() =>
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        return socket.SendTo(payload, new IPEndPoint(address, port));
    });

    /// <summary>
    /// Runs <paramref name="action"/> on a thread that joined the namespace (setns changes only the calling thread's
    /// namespace; a socket keeps the namespace it was made in).
    /// </summary>
    public T Inside<T>(Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{Name}");
                if (Libc.setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                    throw new IOException($"setns into {Name} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null) throw failure;
        return result;
    }

    public void Dispose() => TryIp($"netns del {Name}");

    /// <summary>Runs `ip ARGS`; throws with its error output when it fails.</summary>
    public static string Ip(string arguments)
    {
        var (code, output) = RunIp(arguments);
        if (code != 0) throw new InvalidOperationException($"ip {arguments} failed ({code}): {output}");
        return output;
    }

    /// <summary>Runs `ip ARGS` and ignores a failure (cleanup of what may not exist).</summary>
    public static void TryIp(string arguments) => RunIp(arguments);

    private static (int Code, string Output) RunIp(string arguments)
    {
        var start = new ProcessStartInfo("ip", arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }
}
