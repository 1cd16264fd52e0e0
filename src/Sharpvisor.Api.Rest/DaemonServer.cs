using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Sharpvisor.Api.Rest.Routes;
using Sharpvisor.Api.Rest.Security;
using Sharpvisor.Dashboard;
using Sharpvisor.Host;
using Sharpvisor.Host.Events;
using Sharpvisor.Host.Networks;
using Sharpvisor.Host.Resources;
using Sharpvisor.Host.Store;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Api.Rest;

/// <summary>How the daemon listens: its Unix socket (mode 0660, no token) and, optionally, TCP with TLS and a bearer token.</summary>
public sealed record DaemonListenOptions(string UnixSocket, IPEndPoint? Tcp);

/// <summary>
/// `sharpvisor daemon`: the host's VMs (<see cref="InstanceManager"/> on a <see cref="SqliteHostStore"/>) behind the
/// REST API, served by Kestrel. Requests over TCP need the bearer token; over the Unix socket, the socket's file mode
/// is the access control, as with Incus and libvirt.
/// </summary>
public static class DaemonServer
{
    public static async Task<int> RunAsync(HostDaemonOptions options, DaemonListenOptions listen, IVmmLauncher launcher, Action<string> say, CancellationToken ct)
    {
        options.Paths.CreateLayout();
        using var store = new SqliteHostStore(options.Paths.StoreFile);
        var credentials = ApiCredentials.LoadOrCreate(options.Paths.TokenFile, options.Paths.CertificateFile, options.HostName);
        var events = new HostEvents();
        using var networks = new NetworkManager(options.Paths, store, events);
        networks.RestoreAll(); // before the VMs: their taps join the bridges
        using var manager = new InstanceManager(options, store, launcher, events);
        await manager.RecoverAsync().ConfigureAwait(false);
        using var steward = new MemorySteward(manager, say);
        steward.Start();

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton(manager);
        builder.Services.AddSingleton(networks);
        builder.Services.AddSingleton(credentials);
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new() { Title = "Sharpvisor host daemon API", Version = "1.0" };
            return Task.CompletedTask;
        }));
        Directory.CreateDirectory(Path.GetDirectoryName(listen.UnixSocket)!);
        if (File.Exists(listen.UnixSocket)) File.Delete(listen.UnixSocket);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = RequestBody.DrainBytes; // RequestBody answers the JSON 413 past 1 MiB itself
            kestrel.ListenUnixSocket(listen.UnixSocket);
            if (listen.Tcp is { } tcp)
                kestrel.Listen(tcp, l => { l.Protocols = HttpProtocols.Http1AndHttp2; l.UseHttps(credentials.Certificate); });
        });
        var dashboard = new DashboardGate(new DashboardSessions(credentials.Token));
        var app = builder.Build();
        app.UseExceptionHandler(error => error.Run(WriteError));
        app.UseWebSockets();
        app.Use(async (context, next) =>
        {
            if (IsTcp(context) && !HasToken(context, credentials.Token))
            {
                // The /ui pages, and API calls from a signed-in dashboard page (session cookie, CSRF token), pass too.
                var (admitted, refusal) = dashboard.Admit(context);
                if (!admitted)
                {
                    var error = refusal is not null ? ApiResponses.Error(403, refusal)
                        : ApiResponses.Error(401, "a bearer token is needed (the daemon's token file, sent as 'Authorization: Bearer TOKEN')");
                    await error.ExecuteAsync(context).ConfigureAwait(false);
                    return;
                }
            }
            await next(context).ConfigureAwait(false);
        });
        app.MapOpenApi("/openapi.json");
        ApiRoutes.Map(app, new MetricsEndpoint(manager));
        DashboardEndpoints.Map(app, dashboard);
        app.MapFallback(context => ApiResponses.Error(404, $"no such resource: {context.Request.Method} {context.Request.Path}").ExecuteAsync(context));

        await app.StartAsync(ct).ConfigureAwait(false);
        File.SetUnixFileMode(listen.UnixSocket, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        say($"listening on {listen.UnixSocket}{(listen.Tcp is { } t ? $" and https://{t} (certificate SHA-256 {credentials.Fingerprint}; token in {options.Paths.TokenFile})" : "")}");
        say($"state in {options.Paths.StateDirectory}; {manager.List().Count} instance(s); capacity {options.Capacity.Cores} cores, " +
            $"{options.Capacity.MemoryBytes >> 20} MiB (ratios cpu {options.Capacity.CpuRatio}, memory {options.Capacity.MemoryRatio}, disk {options.Capacity.DiskRatio})");
        try { await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        // The VMs go on without the daemon; a new daemon adopts them.
        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }

    // A Unix socket connection has no IP address; every TCP one has.
    private static bool IsTcp(HttpContext context) => context.Connection.LocalIpAddress is not null;

    private static bool HasToken(HttpContext context, string token)
    {
        string? header = context.Request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.Ordinal)) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[7..].Trim()), Encoding.UTF8.GetBytes(token));
    }

    private static Task WriteError(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var result = error switch
        {
            HostException e => ApiResponses.Error(e.StatusCode, e.Message, e.Field),
            Microsoft.AspNetCore.Http.BadHttpRequestException e => ApiResponses.Error(e.StatusCode, e.Message),
            _ => ApiResponses.Error(500, $"{error?.GetType().Name}: {error?.Message}"),
        };
        return result.ExecuteAsync(context);
    }
}
