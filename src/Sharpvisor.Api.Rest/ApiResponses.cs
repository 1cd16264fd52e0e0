using Sharpvisor.Host.Operations;

namespace Sharpvisor.Api.Rest;

/// <summary>
/// The three shapes of an answer, as Incus's API has them: sync (the result in <c>metadata</c>), async (202, an
/// operation to follow at <c>Location</c>) and error (<c>error</c>, <c>error_code</c> and the <c>field</c> at fault).
/// </summary>
public static class ApiResponses
{
    public static IResult Sync(object? metadata, int status = 200, long? etag = null, string? location = null) =>
        new JsonEnvelope(new SyncEnvelope("sync", status, metadata), status, etag, location);

    public static IResult Async(Operation operation) =>
        new JsonEnvelope(new AsyncEnvelope("async", 202, $"/1.0/operations/{operation.Id}", OperationView.From(operation)), 202, null, $"/1.0/operations/{operation.Id}");

    public static IResult Error(int status, string message, string? field = null) =>
        new JsonEnvelope(new ErrorEnvelope("error", status, message, field), status, null, null);

    private sealed record SyncEnvelope(string Type, int StatusCode, object? Metadata);
    private sealed record AsyncEnvelope(string Type, int StatusCode, string Operation, OperationView Metadata);
    private sealed record ErrorEnvelope(string Type, int ErrorCode, string Error, string? Field);

    private sealed class JsonEnvelope(object body, int status, long? etag, string? location) : IResult
    {
        public async Task ExecuteAsync(HttpContext context)
        {
            context.Response.StatusCode = status;
            if (etag is { } e) context.Response.Headers.ETag = $"\"{e}\"";
            if (location is not null) context.Response.Headers.Location = location;
            await context.Response.WriteAsJsonAsync(body, body.GetType(), ApiJson.Options).ConfigureAwait(false);
        }
    }
}

/// <summary>An operation as /1.0/operations/{id} shows it.</summary>
public sealed record OperationView(string Id, string Description, string? Instance, string Status, DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt, string? Error, IReadOnlyDictionary<string, object?> Metadata)
{
    public static OperationView From(Operation o) =>
        new(o.Id, o.Description, o.Instance, o.Status.ToString().ToLowerInvariant(), o.CreatedAt, o.UpdatedAt, o.Error, o.Metadata);
}
