using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using Sharpvisor.Api.Rest.Security;
using Sharpvisor.Host.Tests.Daemon;

namespace Sharpvisor.Dashboard.Tests;

/// <summary>
/// The dashboard's rules on the daemon's TCP listener, checked over HTTP without a browser: the page is open, the API
/// still takes the bearer token as before, a session cookie does not open a websocket for another origin.
/// </summary>
public sealed class DashboardHttpTests : IDisposable
{
    private readonly DaemonProcess _daemon = new();

    private Uri Base => new($"https://127.0.0.1:{_daemon.TcpPort}");

    private async Task<HttpClient> ClientAsync(string token) =>
        DaemonHttp.TcpClient(Base, token, await _daemon.FingerprintAsync());

    [Fact]
    public async Task The_page_is_served_without_a_token_and_the_api_still_needs_one()
    {
        using var anonymous = await ClientAsync("");
        anonymous.DefaultRequestHeaders.Authorization = null;
        using var page = await anonymous.GetAsync("/ui");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("/ui/app.js", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/ui/app.js")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync("/ui/secret.txt")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/1.0/instances")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/ui/session")).StatusCode);

        using var client = await ClientAsync(_daemon.Token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/1.0/instances")).StatusCode);
        using var created = await client.PostAsJsonAsync("/1.0/instances", new { name = "bearer", memory = "64M" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
    }

    [Fact]
    public async Task A_session_cookie_opens_the_events_websocket_for_the_daemons_origin_only()
    {
        using var anonymous = await ClientAsync("");
        anonymous.DefaultRequestHeaders.Authorization = null;
        using var login = await anonymous.PostAsJsonAsync("/ui/login", new { token = _daemon.Token });
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        string cookie = login.Headers.GetValues("Set-Cookie").Single().Split(';')[0];

        Assert.Equal(WebSocketState.Open, (await OpenEventsAsync(cookie, $"https://127.0.0.1:{_daemon.TcpPort}")).State);
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => OpenEventsAsync(cookie, "https://attacker.example"));
        Assert.Contains("403", refused.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<WebSocketException>(() => OpenEventsAsync("sharpvisor_session=forged", $"https://127.0.0.1:{_daemon.TcpPort}"));
    }

    private async Task<ClientWebSocket> OpenEventsAsync(string cookie, string origin)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Cookie", cookie);
        socket.Options.SetRequestHeader("Origin", origin);
        var pinned = DaemonHttp.PinnedTls(await _daemon.FingerprintAsync());
        socket.Options.RemoteCertificateValidationCallback = pinned.RemoteCertificateValidationCallback;
        await socket.ConnectAsync(new Uri($"wss://127.0.0.1:{_daemon.TcpPort}/1.0/events"), CancellationToken.None);
        return socket;
    }

    public void Dispose() => _daemon.Dispose();
}
