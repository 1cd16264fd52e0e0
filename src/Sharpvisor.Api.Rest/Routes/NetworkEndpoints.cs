using Sharpvisor.Api.Rest.Contracts;
using Sharpvisor.Host.Networks;

namespace Sharpvisor.Api.Rest.Routes;

/// <summary>/1.0/networks and /1.0/networks/{name}: define, list, show (with DHCP leases) and delete virtual networks.</summary>
internal static class NetworkEndpoints
{
    public static IResult List(NetworkManager networks) =>
        ApiResponses.Sync(networks.List().Select(n => NetworkView.From(n, networks, withLeases: false)).ToArray());

    public static async Task<IResult> Create(HttpRequest request, NetworkManager networks)
    {
        var body = await RequestBody.ReadAsync<NetworkRequest>(request).ConfigureAwait(false);
        var created = networks.Create(body.ToDefinition());
        return ApiResponses.Sync(NetworkView.From(created, networks, withLeases: false), 201, location: $"/1.0/networks/{created.Name}");
    }

    public static IResult Get(string name, NetworkManager networks) =>
        ApiResponses.Sync(NetworkView.From(networks.Get(name), networks, withLeases: true));

    public static IResult Delete(string name, NetworkManager networks)
    {
        networks.Delete(name);
        return ApiResponses.Sync(null);
    }
}
