using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Sharpvisor.Api.Rest;
using Sharpvisor.Api.Rest.Security;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>
/// A real `sharpvisor daemon` process on a temporary state directory and socket (and a TCP listener on a free
/// port), driven over HTTP as a user's tools drive it. Disposing it kills the daemon and every VMM it started.
/// </summary>
public sealed class DaemonProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly bool _ownsDirectory;

    public string Root { get; }
    public string StateDirectory => Path.Combine(Root, "state");
    public string Socket => Path.Combine(Root, "api.sock");
    public string DiskRoot => Path.Combine(Root, "disks");
    public int TcpPort { get; }
    public HttpClient Http { get; }
    public string Output { get { lock (_output) return _output.ToString(); } }
    public int Pid => _process.Id;

    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "sharpvisor.dll");

    /// <summary>Starts a daemon; <paramref name="root"/> reuses the folder of an earlier one (a restart).</summary>
    public DaemonProcess(string? root = null, params string[] extraArguments)
    {
        _ownsDirectory = root is null;
        Root = root ?? Directory.CreateTempSubdirectory("sv-daemon-").FullName;
        Directory.CreateDirectory(DiskRoot);
        TcpPort = FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { CliDll, "daemon", "--state-dir", StateDirectory, "--socket", Socket, "--listen", $"127.0.0.1:{TcpPort}",
                     "--disk-root", DiskRoot, "--stop-timeout", "20" }.Concat(extraArguments))
            start.ArgumentList.Add(a);
        _process = Process.Start(start)!;
        var ready = new TaskCompletionSource();
        void Collect(string? line)
        {
            if (line is null) return;
            lock (_output) _output.AppendLine(line);
            if (line.Contains("listening on", StringComparison.Ordinal)) ready.TrySetResult();
        }
        _process.OutputDataReceived += (_, e) => Collect(e.Data);
        _process.ErrorDataReceived += (_, e) => Collect(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        // A daemon that refuses its arguments ends at once: no need to wait out the whole minute and a half.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (!ready.Task.Wait(250))
            if (DateTime.UtcNow > deadline || _process.HasExited)
                throw new InvalidOperationException($"the daemon did not start listening{(_process.HasExited ? $" (it exited with {_process.ExitCode})" : "")}; its output:\n{Output}");
        Http = DaemonHttp.UnixClient(Socket);
    }

    public string Token => File.ReadAllText(Path.Combine(StateDirectory, "token")).Trim();

    public async Task<string> FingerprintAsync() => (await GetAsync("/1.0")).GetProperty("certificate_fingerprint").GetString()!;

    public async Task<(int Status, JsonElement Body)> SendAsync(HttpMethod method, string path, object? body = null, string? rawBody = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (rawBody is not null) request.Content = new StringContent(rawBody, Encoding.UTF8, "application/json");
        else if (body is not null) request.Content = JsonContent.Create(body, body.GetType(), options: ApiJson.Options);
        using var response = await Http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>GET that must succeed; returns the metadata.</summary>
    public async Task<JsonElement> GetAsync(string path)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, path);
        Assert.True(status == 200, $"GET {path}: {status} {body}");
        return body.GetProperty("metadata");
    }

    /// <summary>Sends a request answered with an operation (202) and waits for it; returns the finished operation.</summary>
    public async Task<JsonElement> RunOperationAsync(HttpMethod method, string path, object? body, TimeSpan timeout)
    {
        var (status, reply) = await SendAsync(method, path, body);
        Assert.True(status == 202, $"{method} {path}: {status} {reply}");
        return await WaitAsync(reply.GetProperty("operation").GetString()!, timeout);
    }

    public async Task<JsonElement> WaitAsync(string operation, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var view = await GetAsync($"{operation}?wait=5");
            if (view.GetProperty("status").GetString() != "running") return view;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{operation} still runs after {timeout}: {view}");
        }
    }

    public async Task<JsonElement> StartAsync(string name)
    {
        var operation = await RunOperationAsync(HttpMethod.Put, $"/1.0/instances/{name}/state", new { action = "start" }, TimeSpan.FromMinutes(5));
        Assert.True(operation.GetProperty("status").GetString() == "success", $"start {name}: {operation}\n{Output}");
        return await GetAsync($"/1.0/instances/{name}");
    }

    public async Task<string> StatusAsync(string name) => (await GetAsync($"/1.0/instances/{name}")).GetProperty("status").GetString()!;

    public async Task<string> ConsoleLogAsync(string name) => Encoding.UTF8.GetString(await Http.GetByteArrayAsync($"/1.0/instances/{name}/console"));

    /// <summary>Waits until the VM's console log holds <paramref name="text"/> (the default guest's ready line, a command's answer).</summary>
    public async Task WaitForConsoleAsync(string name, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!(await ConsoleLogAsync(name)).Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{name}'s console never showed '{text}' in {timeout}; it shows:\n{Tail(await ConsoleLogAsync(name))}\nvmm.log:\n{Tail(VmmLog(name))}");
            await Task.Delay(250);
        }
    }

    public string VmmLog(string name)
    {
        string path = Path.Combine(StateDirectory, "vms", name, "vmm.log");
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    private static string Tail(string text) => text.Length > 3000 ? text[^3000..] : text;

    /// <summary>Opens the console websocket over the Unix socket, as the CLI does.</summary>
    public async Task<ClientWebSocket> OpenConsoleAsync(string name)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://sharpvisor/1.0/instances/{name}/console"), DaemonHttp.UnixClient(Socket), CancellationToken.None);
        return socket;
    }

    /// <summary>
    /// Types a line into the console websocket and waits for <paramref name="expect"/> in what comes back. The shell
    /// echoes the line itself, so <paramref name="expect"/> must be something only running it prints (e.g. $((6*7)) -> 42).
    /// </summary>
    public static async Task<string> TypeAsync(ClientWebSocket console, string line, string expect, TimeSpan timeout)
    {
        Assert.DoesNotContain(expect, line);
        await console.SendAsync(Encoding.ASCII.GetBytes(line + "\n"), WebSocketMessageType.Binary, true, CancellationToken.None);
        var seen = new StringBuilder();
        using var cancel = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        while (!seen.ToString().Contains(expect, StringComparison.Ordinal))
        {
            var received = await console.ReceiveAsync(buffer, cancel.Token);
            if (received.MessageType == WebSocketMessageType.Close) break;
            seen.Append(Encoding.UTF8.GetString(buffer, 0, received.Count));
        }
        return seen.ToString();
    }

    /// <summary>Opens the lifecycle events websocket over the Unix socket.</summary>
    public async Task<ClientWebSocket> OpenEventsAsync()
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri("ws://sharpvisor/1.0/events"), DaemonHttp.UnixClient(Socket), CancellationToken.None);
        return socket;
    }

    /// <summary>Reads events until one with <paramref name="action"/>; the timeout names the ones seen instead.</summary>
    public static async Task<JsonElement> NextEventAsync(ClientWebSocket events, string action, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var buffer = new byte[65536];
        var seen = new List<string>();
        try
        {
            while (true)
            {
                var received = await events.ReceiveAsync(buffer, cancel.Token);
                var e = JsonDocument.Parse(buffer.AsMemory(0, received.Count)).RootElement.Clone();
                seen.Add(e.GetProperty("action").GetString()!);
                if (e.GetProperty("action").GetString() == action) return e;
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no {action} event in {timeout}; saw {string.Join(", ", seen)}");
        }
    }

    /// <summary>SIGKILL of the daemon alone: its VMMs are in sessions of their own and go on.</summary>
    public void KillDaemonOnly()
    {
        _process.Kill(entireProcessTree: false);
        _process.WaitForExit();
    }

    /// <summary>The pids of the VMMs whose command line names this daemon's state directory.</summary>
    public IReadOnlyList<int> VmmPids() =>
        Directory.GetDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out int pid) ? pid : 0).Where(pid => pid > 0)
            .Where(pid =>
            {
                try { return File.ReadAllText($"/proc/{pid}/cmdline").Contains(Path.Combine(StateDirectory, "vms"), StringComparison.Ordinal) && File.ReadAllText($"/proc/{pid}/cmdline").Contains("\0run\0", StringComparison.Ordinal); }
                catch (IOException) { return false; }
            }).ToArray();

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        Http.Dispose();
        try { if (!_process.HasExited) _process.Kill(); } catch (InvalidOperationException) { }
        _process.WaitForExit(10_000);
        foreach (int pid in VmmPids())
        {
            try { Process.GetProcessById(pid).Kill(); } catch (Exception e) when (e is ArgumentException or InvalidOperationException) { }
        }
        _process.Dispose();
        if (_ownsDirectory)
        {
            try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
