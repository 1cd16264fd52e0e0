using Sharpvisor.Api.Rest.Routes;

namespace Sharpvisor.Api.Rest;

/// <summary>Every route of the API and the handler that serves it: one table, so the API can be read in one place.</summary>
internal static class ApiRoutes
{
    // A websocket over HTTP/2 (RFC 8441, as browsers open them on the TLS listener) is a CONNECT, not a GET.
    private static readonly string[] WebSocketMethods = [HttpMethods.Get, HttpMethods.Connect];

    public static void Map(WebApplication app, MetricsEndpoint metrics)
    {
        app.MapGet("/1.0", ServerEndpoint.Get);
        app.MapGet("/1.0/instances", InstanceEndpoints.List);
        app.MapPost("/1.0/instances", InstanceEndpoints.Create);
        app.MapGet("/1.0/instances/{name}", InstanceEndpoints.Get);
        app.MapPatch("/1.0/instances/{name}", InstanceEndpoints.Patch);
        app.MapDelete("/1.0/instances/{name}", InstanceEndpoints.Delete);
        app.MapGet("/1.0/instances/{name}/state", InstanceEndpoints.GetState);
        app.MapPut("/1.0/instances/{name}/state", InstanceEndpoints.PutState);
        app.MapGet("/1.0/instances/{name}/snapshots", SnapshotEndpoints.List);
        app.MapPost("/1.0/instances/{name}/snapshots", SnapshotEndpoints.Create);
        app.MapGet("/1.0/instances/{name}/snapshots/{snapshot}", SnapshotEndpoints.Get);
        app.MapPost("/1.0/instances/{name}/snapshots/{snapshot}/restore", SnapshotEndpoints.Restore);
        app.MapDelete("/1.0/instances/{name}/snapshots/{snapshot}", SnapshotEndpoints.Delete);
        app.MapMethods("/1.0/instances/{name}/console", WebSocketMethods, ConsoleEndpoints.Get);
        app.MapPost("/1.0/instances/{name}/migrate", MigrationEndpoints.Send);
        app.MapPost("/1.0/migrations", MigrationEndpoints.Receive);
        app.MapGet("/1.0/operations", OperationEndpoints.List);
        app.MapGet("/1.0/operations/{id}", OperationEndpoints.Get);
        app.MapMethods("/1.0/events", WebSocketMethods, EventEndpoints.Get);
        app.MapGet("/1.0/networks", NetworkEndpoints.List);
        app.MapPost("/1.0/networks", NetworkEndpoints.Create);
        app.MapGet("/1.0/networks/{name}", NetworkEndpoints.Get);
        app.MapDelete("/1.0/networks/{name}", NetworkEndpoints.Delete);
        app.MapGet("/1.0/host", HostEndpoints.Get);
        app.MapGet("/1.0/storage-pools", StorageEndpoints.ListPools);
        app.MapGet("/1.0/storage-pools/{pool}/volumes", StorageEndpoints.ListVolumes);
        app.MapPost("/1.0/storage-pools/{pool}/volumes", StorageEndpoints.CreateVolume);
        app.MapGet("/1.0/storage-pools/{pool}/volumes/{volume}", StorageEndpoints.GetVolume);
        app.MapPatch("/1.0/storage-pools/{pool}/volumes/{volume}", StorageEndpoints.ResizeVolume);
        app.MapDelete("/1.0/storage-pools/{pool}/volumes/{volume}", StorageEndpoints.DeleteVolume);
        app.MapGet("/1.0/images", StorageEndpoints.ListImages);
        app.MapPost("/1.0/images", StorageEndpoints.ImportImage);
        app.MapGet("/1.0/images/{name}", StorageEndpoints.GetImage);
        app.MapDelete("/1.0/images/{name}", StorageEndpoints.DeleteImage);
        app.MapGet("/metrics", metrics.Get);
    }
}
