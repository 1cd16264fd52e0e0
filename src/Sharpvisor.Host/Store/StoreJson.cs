using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Host.Store;

/// <summary>How records are written into a store's rows (and an etcd value later): snake_case JSON, enums by name.</summary>
public static class StoreJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
