using Sharpvisor.Host;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Api.Rest.Routes;

/// <summary>/1.0/operations: the long tasks; GET with ?wait=SECONDS answers when the task ends (or the wait does).</summary>
internal static class OperationEndpoints
{
    public static IResult List(InstanceManager manager) =>
        ApiResponses.Sync(manager.Operations.List().Select(OperationView.From).ToArray());

    public static async Task<IResult> Get(string id, double? wait, InstanceManager manager, CancellationToken ct)
    {
        var operation = manager.Operations.Find(id) ?? throw HostException.NotFound($"no operation {id}");
        if (wait is < 0 or > 3600) throw HostException.BadRequest($"wait must be 0 to 3,600 seconds, not {wait}", "wait");
        if (wait is { } seconds)
            await Task.WhenAny(operation.Done, Task.Delay(TimeSpan.FromSeconds(seconds), ct)).ConfigureAwait(false);
        return ApiResponses.Sync(OperationView.From(operation));
    }
}
