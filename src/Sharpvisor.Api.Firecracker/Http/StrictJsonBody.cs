using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Sharpvisor.Api.Firecracker.Http;

/// <summary>
/// Request bodies read as strictly as Firecracker reads them: an unknown field, a missing required one, a null where a
/// value belongs or a value of the wrong JSON type is refused, and the fault names the field (by its JSON path).
/// </summary>
public static partial class StrictJsonBody
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        NumberHandling = JsonNumberHandling.Strict,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Quotes in fault messages stay quotes (the default escapes them as \u0027), as a client's log shows them.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static T Read<T>(byte[] body, string request)
    {
        if (body.Length == 0) throw new ApiFaultException($"{request} needs a JSON body");
        T? value;
        try
        {
            value = JsonSerializer.Deserialize<T>(body, Options);
        }
        catch (JsonException e)
        {
            throw new ApiFaultException($"the body of {request} is refused: {Describe(e)}");
        }
        return value ?? throw new ApiFaultException($"the body of {request} is null; a JSON object is expected");
    }

    // System.Text.Json says what went wrong in .NET terms; the client wants the JSON field and the JSON type.
    private static string Describe(JsonException e)
    {
        string message = e.Message;
        string path = e.Path is { Length: > 1 } p ? p.TrimStart('$', '.') : "";
        if (UnknownMember().Match(message) is { Success: true } unknown)
            return $"unknown field '{Join(path, unknown.Groups[1].Value)}'";
        if (MissingRequired().Match(message) is { Success: true } missing)
        {
            var names = Quoted().Matches(missing.Groups[1].Value).Select(m => Join(path, m.Groups[1].Value));
            return $"missing required field(s) {string.Join(", ", names.Select(n => $"'{n}'"))}";
        }
        if (ConvertTo().Match(message) is { Success: true } convert)
            return path.Length > 0 ? $"field '{path}' must be {JsonKindOf(convert.Groups[1].Value)}" : "a JSON object is expected";
        if (path.Length > 0 && message.Contains("null", StringComparison.OrdinalIgnoreCase))
            return $"field '{path}' must not be null";
        if (e.LineNumber is { } line && e.BytePositionInLine is { } column)
            return $"it is not valid JSON (line {line + 1}, byte {column + 1})";
        return path.Length > 0 ? $"field '{path}' has a value that cannot be used" : "it is not a JSON object of the expected shape";
    }

    private static string Join(string path, string name) =>
        path.Length == 0 ? name : path == name || path.EndsWith("." + name, StringComparison.Ordinal) ? path : $"{path}.{name}";

    private static string JsonKindOf(string dotnetType) => dotnetType switch
    {
        "System.Int32" or "System.Int64" or "System.UInt32" or "System.UInt64" => "an integer",
        "System.Nullable`1[System.Int32]" or "System.Nullable`1[System.Int64]" => "an integer",
        "System.Boolean" or "System.Nullable`1[System.Boolean]" => "true or false",
        "System.String" => "a string",
        _ when dotnetType.Contains("List", StringComparison.Ordinal) || dotnetType.EndsWith("[]", StringComparison.Ordinal) => "an array",
        _ when dotnetType.Contains("Dictionary", StringComparison.Ordinal) => "an object of strings",
        _ => "an object",
    };

    [GeneratedRegex(@"The JSON property '([^']+)' could not be mapped")]
    private static partial Regex UnknownMember();

    [GeneratedRegex(@"missing required properties including: (.+)\.")]
    private static partial Regex MissingRequired();

    [GeneratedRegex(@"'([^']+)'")]
    private static partial Regex Quoted();

    [GeneratedRegex(@"could not be converted to ([^\s.]+(?:\.[^\s.]+)*)\.")]
    private static partial Regex ConvertTo();
}
