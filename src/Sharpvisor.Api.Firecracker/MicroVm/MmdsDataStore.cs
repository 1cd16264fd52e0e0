using System.Text.Json;
using System.Text.Json.Nodes;
using Sharpvisor.Api.Firecracker.Http;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>
/// MMDS's data store as the API sets it: PUT replaces the whole JSON object, PATCH merges into it as a JSON merge patch
/// (RFC 7396: members replace, null removes, objects merge), GET returns it ({} while empty). At most
/// <see cref="LimitBytes"/> of JSON; a change that would pass it is refused and the store stays as it was.
/// </summary>
public sealed class MmdsDataStore
{
    public const int LimitBytes = 51_200;
    // The API thread writes, the guest's metadata requests read (on a network device's thread).
    private readonly Lock _lock = new();
    private JsonObject _root = [];

    public JsonObject Value
    {
        get { lock (_lock) return (JsonObject)_root.DeepClone(); }
    }

    public void Put(JsonNode? value)
    {
        var candidate = AsObject(value, "PUT /mmds").DeepClone().AsObject();
        lock (_lock) Commit(candidate);
    }

    public void Patch(JsonNode? patch)
    {
        lock (_lock)
        {
            var merged = (JsonObject)_root.DeepClone();
            Merge(merged, AsObject(patch, "PATCH /mmds"));
            Commit(merged);
        }
    }

    private static JsonObject AsObject(JsonNode? value, string request) =>
        value as JsonObject ?? throw new ApiFaultException($"the body of {request} must be a JSON object");

    private void Commit(JsonObject candidate)
    {
        int size = System.Text.Encoding.UTF8.GetByteCount(candidate.ToJsonString());
        if (size > LimitBytes)
            throw new MmdsLimitException($"the MMDS data store would hold {size} bytes of JSON, more than its limit of {LimitBytes}");
        _root = candidate;
    }

    private static void Merge(JsonObject target, JsonObject patch)
    {
        foreach (var (name, value) in patch.ToArray())
        {
            if (value is null) target.Remove(name);
            else if (value is JsonObject patchObject && target[name] is JsonObject targetObject) Merge(targetObject, patchObject);
            else target[name] = value.DeepClone();
        }
    }

    /// <summary>Parses a request body; invalid JSON is a fault naming where it stops.</summary>
    public static JsonNode? Parse(byte[] body, string request)
    {
        try
        {
            return JsonNode.Parse(body);
        }
        catch (JsonException e)
        {
            throw new ApiFaultException($"the body of {request} is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})");
        }
    }
}

/// <summary>The data store's size limit was reached: Firecracker answers it with 413, not 400.</summary>
public sealed class MmdsLimitException(string message) : Exception(message);
