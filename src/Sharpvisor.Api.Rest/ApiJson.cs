using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Api.Rest;

/// <summary>The API's JSON: snake_case, and a request field the API does not know is an error, not silently ignored.</summary>
public static class ApiJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.Strict,
    };
}
