using Sharpvisor.Api.Rest.Contracts;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Api.Rest.Routes;

/// <summary>/1.0/instances/{name}/snapshots: save a running VM, list, restore and delete its snapshots.</summary>
internal static class SnapshotEndpoints
{
    public static IResult List(string name, InstanceManager manager) =>
        ApiResponses.Sync(manager.ListSnapshots(name).Select(s => new SnapshotView(s.Name, s.CreatedAt, s.Complete)).ToArray());

    public static async Task<IResult> Create(string name, HttpRequest request, InstanceManager manager)
    {
        var body = await RequestBody.ReadAsync<SnapshotRequest>(request).ConfigureAwait(false);
        return ApiResponses.Async(manager.CreateSnapshot(name, body.Name));
    }

    public static IResult Get(string name, string snapshot, InstanceManager manager)
    {
        var s = manager.GetSnapshot(name, snapshot);
        return ApiResponses.Sync(new SnapshotView(s.Name, s.CreatedAt, s.Complete));
    }

    public static IResult Restore(string name, string snapshot, InstanceManager manager) =>
        ApiResponses.Async(manager.RestoreSnapshot(name, snapshot));

    public static async Task<IResult> Delete(string name, string snapshot, InstanceManager manager)
    {
        await manager.DeleteSnapshotAsync(name, snapshot).ConfigureAwait(false);
        return ApiResponses.Sync(null);
    }
}
