using Sharpvisor.Api.Rest.Contracts;
using Sharpvisor.Host;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Api.Rest.Routes;

/// <summary>/1.0/storage-pools (the pool and its volumes) and /1.0/images: the daemon's <see cref="Host.Storage.StorageCatalog"/>.</summary>
internal static class StorageEndpoints
{
    public static IResult ListPools(InstanceManager manager) => ApiResponses.Sync(manager.Storage.ListPools());

    public static IResult ListVolumes(string pool, InstanceManager manager) => ApiResponses.Sync(manager.Storage.ListVolumes(pool));

    public static IResult GetVolume(string pool, string volume, InstanceManager manager) => ApiResponses.Sync(manager.Storage.GetVolume(pool, volume));

    public static async Task<IResult> CreateVolume(string pool, HttpRequest request, InstanceManager manager)
    {
        var body = await RequestBody.ReadAsync<VolumeRequest>(request).ConfigureAwait(false);
        if (new[] { body.Source, body.Image }.Count(s => s is not null) > 1) throw HostException.BadRequest("a volume is a copy of source or an overlay on image, not both", "image");
        var created = manager.Storage.CreateVolume(pool, body.Name ?? throw HostException.BadRequest("a volume needs a name", "name"),
            body.Bytes, body.Format ?? "qcow2", body.Source, body.Image);
        return ApiResponses.Sync(created, 201, location: $"/1.0/storage-pools/{pool}/volumes/{created.Name}");
    }

    public static async Task<IResult> ResizeVolume(string pool, string volume, HttpRequest request, InstanceManager manager)
    {
        var body = await RequestBody.ReadAsync<VolumeResizeRequest>(request).ConfigureAwait(false);
        return ApiResponses.Sync(manager.Storage.ResizeVolume(pool, volume, body.Bytes));
    }

    public static IResult DeleteVolume(string pool, string volume, InstanceManager manager)
    {
        manager.Storage.DeleteVolume(pool, volume);
        return ApiResponses.Sync(null);
    }

    public static IResult ListImages(InstanceManager manager) => ApiResponses.Sync(manager.Storage.ListImages());

    public static IResult GetImage(string name, InstanceManager manager) => ApiResponses.Sync(manager.Storage.GetImage(name));

    public static async Task<IResult> ImportImage(HttpRequest request, InstanceManager manager)
    {
        var body = await RequestBody.ReadAsync<ImageRequest>(request).ConfigureAwait(false);
        var image = manager.ImportImage(body.Name ?? throw HostException.BadRequest("an image needs a name", "name"),
            body.Source ?? throw HostException.BadRequest("an image needs a source file", "source"));
        return ApiResponses.Sync(image, 201, location: $"/1.0/images/{image.Name}");
    }

    public static IResult DeleteImage(string name, InstanceManager manager)
    {
        manager.Storage.DeleteImage(name);
        return ApiResponses.Sync(null);
    }
}
