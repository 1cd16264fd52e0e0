using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Sharpvisor.Api.Firecracker.Http;

/// <summary>
/// The API socket: Kestrel on a unix socket, HTTP/1.1, every request handed to the <see cref="ApiDispatcher"/>. Bodies
/// over <see cref="MaxBodyBytes"/> are refused with a 400 before the dispatcher sees them, as Firecracker refuses them.
/// </summary>
public sealed class FirecrackerApiServer : IAsyncDisposable
{
    /// <summary>Firecracker's default API payload limit.</summary>
    public const int MaxBodyBytes = 51_200;

    private readonly WebApplication _app;
    private readonly string _socketPath;

    private FirecrackerApiServer(WebApplication app, string socketPath)
    {
        _app = app;
        _socketPath = socketPath;
    }

    /// <summary>
    /// Binds <paramref name="socketPath"/> (which must not exist, as with Firecracker) and starts answering. The socket
    /// is bound under a temporary name and renamed once it listens, so a client that waits for the path to appear (as
    /// Firecracker's scripts do) never finds it bound but not yet listening (connection refused, seen under load).
    /// </summary>
    public static async Task<FirecrackerApiServer> StartAsync(string socketPath, ApiDispatcher dispatcher)
    {
        if (File.Exists(socketPath) || Directory.Exists(socketPath))
            throw new IOException($"{socketPath} already exists; remove it or name another --api-sock");
        // A short name beside it: a unix socket's path is limited to 107 bytes, and the real one may be close.
        string binding = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(socketPath))!, $".sv{Environment.ProcessId}");
        if (File.Exists(binding)) File.Delete(binding);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenUnixSocket(binding, listen => listen.Protocols = HttpProtocols.Http1);
            kestrel.Limits.MaxRequestBodySize = null; // checked here, to answer Firecracker's 400 instead of Kestrel's 413
            kestrel.AddServerHeader = false;
        });
        var app = builder.Build();
        app.Run(context => Handle(context, dispatcher));
        await app.StartAsync();
        try { File.Move(binding, socketPath); }
        catch
        {
            await app.StopAsync();
            await app.DisposeAsync();
            File.Delete(binding);
            throw;
        }
        return new FirecrackerApiServer(app, socketPath);
    }

    private static async Task Handle(HttpContext context, ApiDispatcher dispatcher)
    {
        var request = context.Request;
        ApiResponse response;
        if (request.ContentLength is > MaxBodyBytes)
            response = ApiResponse.Fault($"the request body of {request.ContentLength} bytes is larger than the API's limit of {MaxBodyBytes} bytes");
        else
        {
            var (body, tooLarge) = await ReadBody(request.Body);
            response = tooLarge
                ? ApiResponse.Fault($"the request body is larger than the API's limit of {MaxBodyBytes} bytes")
                : await Task.Run(() => dispatcher.Dispatch(request.Method, request.Path.Value ?? "/", body));
        }
        context.Response.StatusCode = response.Status;
        if (response.Body is null) return;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(response.Body, response.Body.GetType(), StrictJsonBody.Options));
    }

    // Chunked bodies have no Content-Length: read at most one byte past the limit to tell (into a pooled buffer).
    private static async Task<(byte[] Body, bool TooLarge)> ReadBody(Stream stream)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(MaxBodyBytes + 1);
        try
        {
            int length = 0;
            while (length <= MaxBodyBytes)
            {
                int n = await stream.ReadAsync(buffer.AsMemory(length, MaxBodyBytes + 1 - length));
                if (n == 0) break;
                length += n;
            }
            return length > MaxBodyBytes ? ([], true) : (buffer[..length], false);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        File.Delete(_socketPath);
    }
}
