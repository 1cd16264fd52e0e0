using Sharpvisor.Api.Rest.Contracts;
using Sharpvisor.Host;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Api.Rest.Routes;

/// <summary>/1.0/instances and /1.0/instances/{name}: define, list, show, change and delete VMs.</summary>
internal static class InstanceEndpoints
{
    public static IResult List(InstanceManager manager) =>
        ApiResponses.Sync(manager.List().Select(r => InstanceView.From(r, manager.Usage(r.Name))).ToArray());

    public static async Task<IResult> Create(HttpRequest request, InstanceManager manager)
    {
        var body = await RequestBody.ReadAsync<InstanceRequest>(request).ConfigureAwait(false);
        var record = body.Image is { } image
            ? await manager.CreateFromImageAsync(body.ToDefinition(), image).ConfigureAwait(false)
            : await manager.CreateAsync(body.ToDefinition()).ConfigureAwait(false);
        return ApiResponses.Sync(InstanceView.From(record, null), 201, record.Revision, $"/1.0/instances/{record.Name}");
    }

    public static IResult Get(string name, InstanceManager manager)
    {
        var record = manager.Get(name);
        return ApiResponses.Sync(InstanceView.From(record, manager.Usage(name)), etag: record.Revision);
    }

    public static async Task<IResult> Patch(string name, HttpRequest request, InstanceManager manager)
    {
        var body = await RequestBody.ReadAsync<InstanceRequest>(request).ConfigureAwait(false);
        if (body.Name is not null && body.Name != name) throw HostException.BadRequest("a VM cannot be renamed", "name");
        if (body.Image is not null) throw HostException.BadRequest("an image gives a VM its disk when it is created", "image");
        var record = manager.Patch(name, body.ApplyTo, IfMatch(request));
        return ApiResponses.Sync(InstanceView.From(record, manager.Usage(name)), etag: record.Revision);
    }

    public static IResult Delete(string name, InstanceManager manager)
    {
        manager.Delete(name);
        return ApiResponses.Sync(null);
    }

    public static IResult GetState(string name, InstanceManager manager)
    {
        var view = InstanceView.From(manager.Get(name), manager.Usage(name));
        return ApiResponses.Sync(new { view.Status, view.StatusReason, view.Pid, view.StartedAt, view.ResidentMemoryBytes, view.CpuSeconds });
    }

    /// <summary>start, stop and restart take time and answer with an operation; pause, resume and reset answer at once.</summary>
    public static async Task<IResult> PutState(string name, HttpRequest request, InstanceManager manager)
    {
        var body = await RequestBody.ReadAsync<StateRequest>(request).ConfigureAwait(false);
        if (body.Timeout is < 0 or > 3600) throw HostException.BadRequest($"timeout must be 0 to 3,600 seconds, not {body.Timeout}", "timeout");
        TimeSpan? timeout = body.Timeout is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
        return body.Action switch
        {
            "start" => ApiResponses.Async(manager.Start(name)),
            "stop" => ApiResponses.Async(manager.Stop(name, body.Force, timeout)),
            "restart" => ApiResponses.Async(manager.Restart(name, body.Force, timeout)),
            "pause" => Sync(await manager.PauseAsync(name).ConfigureAwait(false)),
            "resume" => Sync(await manager.ResumeAsync(name).ConfigureAwait(false)),
            "reset" => Sync(await manager.ResetAsync(name).ConfigureAwait(false)),
            _ => throw HostException.BadRequest($"action '{body.Action}' is not start, stop, restart, pause, resume or reset", "action"),
        };

        IResult Sync(Host.Instances.InstanceRecord record) => ApiResponses.Sync(InstanceView.From(record, manager.Usage(name)), etag: record.Revision);
    }

    private static long? IfMatch(HttpRequest request)
    {
        string? header = request.Headers.IfMatch;
        if (string.IsNullOrEmpty(header) || header == "*") return null;
        return long.TryParse(header.Trim('"', ' ', 'W', '/'), out long revision) ? revision
            : throw HostException.BadRequest($"If-Match '{header}' is not an ETag this API gave");
    }
}
