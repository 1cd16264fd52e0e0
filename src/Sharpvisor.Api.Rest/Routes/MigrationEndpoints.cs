using System.Net.Http.Json;
using System.Text.Json;
using Sharpvisor.Api.Rest.Contracts;
using Sharpvisor.Host;
using Sharpvisor.Api.Rest.Security;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Api.Rest.Routes;

/// <summary>
/// Live migration between daemons. POST /1.0/instances/{name}/migrate (here, the source) names the destination daemon
/// by URL, token and certificate fingerprint; this daemon asks it, at POST /1.0/migrations, to define the VM and wait
/// for it on a port, then its VMM streams the VM to that port of the destination's host.
/// </summary>
internal static class MigrationEndpoints
{
    public sealed record MigrateRequest(string Target, string Token, string? Fingerprint = null, double? DowntimeMs = null, int? Rounds = null);
    public sealed record ReceiveRequest(InstanceRequest Instance);
    public sealed record ReceiveReply(int Port);

    public static async Task<IResult> Send(string name, HttpRequest request, InstanceManager manager)
    {
        var body = await RequestBody.ReadAsync<MigrateRequest>(request).ConfigureAwait(false);
        if (!Uri.TryCreate(body.Target, UriKind.Absolute, out var target) || target.Scheme != "https")
            throw HostException.BadRequest($"target '{body.Target}' is not an https:// URL of a daemon's TCP listener", "target");
        if (string.IsNullOrEmpty(body.Fingerprint)) throw HostException.BadRequest("the destination's certificate fingerprint is needed (GET /1.0 there shows it)", "fingerprint");
        if (body.DowntimeMs is <= 0 or > 60_000) throw HostException.BadRequest("downtime_ms must be in (0, 60,000]", "downtime_ms");
        if (body.Rounds is < 1 or > 1000) throw HostException.BadRequest("rounds must be 1 to 1,000", "rounds");
        string? options = string.Join(' ', new[]
        {
            body.DowntimeMs is { } d ? $"downtime-ms={d.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : null,
            body.Rounds is { } r ? $"rounds={r}" : null,
        }.Where(o => o is not null));
        return ApiResponses.Async(manager.Migrate(name, definition => PrepareAsync(target, body.Token, body.Fingerprint, definition), options.Length == 0 ? null : options));
    }

    public static async Task<IResult> Receive(HttpRequest request, InstanceManager manager)
    {
        var body = await RequestBody.ReadAsync<ReceiveRequest>(request).ConfigureAwait(false);
        int port = await manager.ReceiveMigrationAsync(body.Instance.ToDefinition()).ConfigureAwait(false);
        return ApiResponses.Sync(new ReceiveReply(port));
    }

    private static async Task<MigrationTarget> PrepareAsync(Uri target, string token, string fingerprint, Host.Instances.InstanceDefinition definition)
    {
        using var client = DaemonHttp.TcpClient(target, token, fingerprint);
        using var response = await client.PostAsJsonAsync("/1.0/migrations", new ReceiveRequest(InstanceRequests.From(definition)), ApiJson.Options).ConfigureAwait(false);
        using var reply = JsonDocument.Parse(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
        if (!response.IsSuccessStatusCode)
        {
            string why = reply.RootElement.TryGetProperty("error", out var error) ? error.GetString() ?? "" : response.ReasonPhrase ?? "";
            throw new HostException((int)response.StatusCode == 409 ? 409 : 502, $"the destination refused the VM: {why}");
        }
        int port = reply.RootElement.GetProperty("metadata").GetProperty("port").GetInt32();
        return new MigrationTarget(target.Host, port, $"{target.Host}:{target.Port}");
    }
}
