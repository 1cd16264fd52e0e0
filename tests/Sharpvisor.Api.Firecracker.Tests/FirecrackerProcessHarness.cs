using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Sharpvisor.Api.Firecracker.Tests;

/// <summary>
/// A real `sharpvisor firecracker --api-sock` process (sharpvisor.dll beside the tests), its console (stdin, stdout)
/// and an HttpClient that talks HTTP/1.1 over its unix socket, as curl --unix-socket does.
/// </summary>
internal sealed class FirecrackerProcessHarness : IDisposable
{
    private readonly StringBuilder _stdout = new(), _stderr = new();
    public Process Process { get; }
    public string Socket { get; }
    public HttpClient Http { get; }

    public FirecrackerProcessHarness(string folder, params string[] extraArguments)
    {
        Socket = Path.Combine(folder, $"api-{Guid.NewGuid():N}.sock"[..12] + ".sock");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sharpvisor.dll"));
        info.ArgumentList.Add("firecracker");
        info.ArgumentList.Add("--api-sock");
        info.ArgumentList.Add(Socket);
        foreach (var a in extraArguments) info.ArgumentList.Add(a);
        Process = Process.Start(info)!;
        Pump(Process.StandardOutput, _stdout);
        Pump(Process.StandardError, _stderr);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancel) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(Socket), cancel);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        Http = new HttpClient(handler) { BaseAddress = new Uri("http://localhost/"), Timeout = TimeSpan.FromMinutes(3) };
        WaitFor(() => File.Exists(Socket) || Process.HasExited, TimeSpan.FromSeconds(60), "the API socket did not appear");
        if (Process.HasExited) throw new InvalidOperationException($"sharpvisor firecracker exited with {Process.ExitCode}: {Stderr}");
    }

    // Character by character: the guest's prompt has no newline after it.
    private static void Pump(StreamReader reader, StringBuilder into) => new Thread(() =>
    {
        var buffer = new char[4096];
        int n;
        while ((n = reader.Read(buffer, 0, buffer.Length)) > 0) lock (into) into.Append(buffer, 0, n);
    }) { IsBackground = true }.Start();

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    public void Type(string line)
    {
        Process.StandardInput.Write(line + "\n");
        Process.StandardInput.Flush();
    }

    public void WaitForConsole(string text, TimeSpan timeout) =>
        WaitFor(() => Stdout.Contains(text), timeout, $"the console never showed '{text}'. stdout:\n{Stdout}\nstderr:\n{Stderr}");

    public int WaitForExit(TimeSpan timeout)
    {
        if (!Process.WaitForExit(timeout))
        {
            string stdout = Stdout;
            throw new TimeoutException($"the process did not end. stdout (last 4000 characters):\n{stdout[Math.Max(0, stdout.Length - 4000)..]}\nstderr:\n{Stderr}");
        }
        Process.WaitForExit();
        return Process.ExitCode;
    }

    public static void WaitFor(Func<bool> condition, TimeSpan timeout, string what)
    {
        var until = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException(what);
            Thread.Sleep(50);
        }
    }

    public void Dispose()
    {
        Http.Dispose();
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            Process.WaitForExit();
        }
        Process.Dispose();
    }
}
