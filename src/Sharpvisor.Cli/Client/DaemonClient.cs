using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Sharpvisor.Api.Rest;
using Sharpvisor.Api.Rest.Security;

namespace Sharpvisor.Cli.Client;

/// <summary>
/// The CLI's side of the daemon's API: over its Unix socket by default, or a remote daemon's TLS listener
/// (--remote URL with its token and certificate fingerprint). Unwraps the sync/async/error envelopes.
/// </summary>
internal sealed class DaemonClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly Func<ClientWebSocket> _newWebSocket;
    private readonly HttpMessageInvoker _webSocketInvoker;
    private readonly Uri _webSocketBase;

    private DaemonClient(HttpClient http, Uri webSocketBase, HttpMessageInvoker invoker, Func<ClientWebSocket> newWebSocket)
    {
        _http = http;
        _webSocketBase = webSocketBase;
        _webSocketInvoker = invoker;
        _newWebSocket = newWebSocket;
    }

    public static DaemonClient Connect(string socket, string? remote, string? token, string? fingerprint)
    {
        if (remote is null)
        {
            var http = DaemonHttp.UnixClient(socket);
            return new DaemonClient(http, new Uri("ws://sharpvisor"), DaemonHttp.UnixClient(socket), () => new ClientWebSocket());
        }
        if (token is null || fingerprint is null) throw new DaemonClientException(2, "--remote needs --token and --fingerprint");
        var baseUri = new Uri(remote);
        var client = DaemonHttp.TcpClient(baseUri, token, fingerprint);
        return new DaemonClient(client, new UriBuilder(baseUri) { Scheme = "wss" }.Uri, DaemonHttp.TcpClient(baseUri, token, fingerprint), () =>
        {
            var socket = new ClientWebSocket();
            socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
            return socket;
        });
    }

    /// <summary>Sends a request; returns the envelope's metadata (sync) or, for an async answer, the finished operation's.</summary>
    public async Task<JsonElement> SendAsync(HttpMethod method, string path, object? body = null, Action<JsonElement>? onProgress = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = JsonContent.Create(body, body.GetType(), options: ApiJson.Options);
        HttpResponseMessage response;
        try { response = await _http.SendAsync(request).ConfigureAwait(false); }
        catch (HttpRequestException e) { throw new DaemonClientException(ExitCodes.DaemonUnreachable, $"cannot reach the daemon: {e.Message}"); }
        using (response)
        {
            var envelope = await ReadEnvelopeAsync(response).ConfigureAwait(false);
            string type = envelope.GetProperty("type").GetString() ?? "";
            if (type == "async") return await WaitAsync(envelope.GetProperty("operation").GetString()!, onProgress).ConfigureAwait(false);
            return envelope.TryGetProperty("metadata", out var metadata) ? metadata.Clone() : default;
        }
    }

    private async Task<JsonElement> WaitAsync(string operation, Action<JsonElement>? onProgress)
    {
        while (true)
        {
            using var response = await _http.GetAsync($"{operation}?wait=1").ConfigureAwait(false);
            var view = (await ReadEnvelopeAsync(response).ConfigureAwait(false)).GetProperty("metadata").Clone();
            string status = view.GetProperty("status").GetString() ?? "";
            if (status == "running")
            {
                onProgress?.Invoke(view);
                continue;
            }
            if (status == "failure") throw new DaemonClientException(ExitCodes.OperationFailed, view.GetProperty("error").GetString() ?? "the operation failed");
            return view;
        }
    }

    private static async Task<JsonElement> ReadEnvelopeAsync(HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        JsonElement envelope;
        try { envelope = JsonDocument.Parse(text).RootElement; }
        catch (JsonException) { throw new DaemonClientException(ExitCodes.OperationFailed, $"the daemon answered {(int)response.StatusCode} with no JSON: {text}"); }
        if (envelope.TryGetProperty("type", out var type) && type.GetString() == "error")
        {
            int code = envelope.GetProperty("error_code").GetInt32();
            string message = envelope.GetProperty("error").GetString() ?? "";
            if (envelope.TryGetProperty("field", out var field) && field.GetString() is { } f) message = $"{f}: {message}";
            throw new DaemonClientException(code >= 500 ? ExitCodes.OperationFailed : ExitCodes.Refused, message);
        }
        return envelope;
    }

    public async Task<byte[]> GetBytesAsync(string path)
    {
        using var response = await _http.GetAsync(path).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode) await ReadEnvelopeAsync(response).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
    }

    public async Task<ClientWebSocket> OpenWebSocketAsync(string path, CancellationToken ct)
    {
        var socket = _newWebSocket();
        try
        {
            await socket.ConnectAsync(new Uri(_webSocketBase, path), _webSocketInvoker, ct).ConfigureAwait(false);
            return socket;
        }
        catch (Exception e) when (e is WebSocketException or HttpRequestException)
        {
            socket.Dispose();
            throw new DaemonClientException(ExitCodes.Refused, $"cannot open {path}: {e.Message}");
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _webSocketInvoker.Dispose();
    }
}

/// <summary>A request the daemon refused or could not carry out; <see cref="ExitCode"/> is what the CLI exits with.</summary>
internal sealed class DaemonClientException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
