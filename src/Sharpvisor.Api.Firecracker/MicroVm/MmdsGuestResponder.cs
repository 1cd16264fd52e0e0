using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sharpvisor.Vmm.Networking.Mmds;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>
/// MMDS as the guest sees it over HTTP, with Firecracker's rules: GET reads the value at the path (a JSON pointer) as
/// JSON (Accept: application/json) or in EC2's IMDS text format (an object's keys one a line, objects with a trailing
/// slash; a string as it is; other types 501); V2 needs a session token from PUT /latest/api/token
/// (X-metadata-token-ttl-seconds, 1 to 21600) in X-metadata-token on every GET; V1 takes GETs without one. Other
/// methods get 405. Error bodies are plain text.
/// </summary>
public sealed class MmdsGuestResponder(MmdsDataStore store, bool version2, bool imdsCompat, Func<DateTimeOffset>? clock = null) : IMetadataResponder
{
    public const string TokenPath = "/latest/api/token";
    public const int MaxTokenSeconds = 21600;
    private readonly Dictionary<string, DateTimeOffset> _tokens = [];
    private readonly Func<DateTimeOffset> _now = clock ?? (() => DateTimeOffset.UtcNow);

    public byte[] Respond(ReadOnlySpan<byte> request)
    {
        if (!TryParse(request, out string method, out string path, out var headers))
            return Answer(400, "text/plain", "Invalid request.");
        if (path.Length == 0) return Answer(400, "text/plain", "Invalid URI.");
        return method switch
        {
            "GET" => Get(path, headers),
            "PUT" => Put(path, headers),
            _ => Answer(405, "text/plain", "Not allowed HTTP method.", "Allow: GET, PUT\r\n"),
        };
    }

    private byte[] Get(string path, Dictionary<string, string> headers)
    {
        if (version2)
        {
            if (Header(headers, "X-metadata-token", "X-aws-ec2-metadata-token") is not { } token)
                return Answer(401, "text/plain", "No MMDS token provided. Use `X-metadata-token` or `X-aws-ec2-metadata-token` header to specify the session token.");
            if (!IsValid(token)) return Answer(401, "text/plain", "MMDS token not valid.");
        }
        string pointer = Sanitize(path);
        if (pointer.EndsWith('/')) pointer = pointer[..^1];
        if (!TryResolve(store.Value, pointer, out var value)) return Answer(404, "text/plain", $"Resource not found: {path}.");
        bool json = !imdsCompat && headers.TryGetValue("accept", out string? accept) && accept.Trim() == "application/json";
        if (json) return Answer(200, "application/json", value?.ToJsonString(JsonOptions) ?? "null");
        return value switch
        {
            JsonObject obj => Answer(200, "text/plain", string.Join('\n', obj.Select(p => p.Value is JsonObject ? p.Key + "/" : p.Key).Order(StringComparer.Ordinal))),
            JsonValue v when v.GetValueKind() == JsonValueKind.String => Answer(200, "text/plain", v.GetValue<string>()),
            _ => Answer(501, "text/plain", "Cannot retrieve value. The value has an unsupported type."),
        };
    }

    private byte[] Put(string path, Dictionary<string, string> headers)
    {
        if (headers.ContainsKey("x-forwarded-for")) return Answer(400, "text/plain", "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For");
        if (Sanitize(path) != TokenPath) return Answer(404, "text/plain", $"Resource not found: {path}.");
        string ttlHeader = headers.ContainsKey("x-metadata-token-ttl-seconds") ? "X-metadata-token-ttl-seconds" : "X-aws-ec2-metadata-token-ttl-seconds";
        if (Header(headers, "X-metadata-token-ttl-seconds", "X-aws-ec2-metadata-token-ttl-seconds") is not { } text)
            return Answer(400, "text/plain", "Token time to live value not found. Use `X-metadata-token-ttl-seconds` or `X-aws-ec2-metadata-token-ttl-seconds` header to specify the token's lifetime.");
        if (!uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint seconds))
            return Answer(400, "text/plain", $"Invalid header. Reason: Invalid value. Key:{ttlHeader}; Value:{text}");
        if (seconds is < 1 or > MaxTokenSeconds)
            return Answer(400, "text/plain", $"Invalid time to live value provided for token: {seconds}. Please provide a value between 1 and {MaxTokenSeconds}.");
        string token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48));
        lock (_tokens)
        {
            var now = _now();
            foreach (var expired in _tokens.Where(t => t.Value <= now).Select(t => t.Key).ToArray()) _tokens.Remove(expired);
            _tokens[token] = now.AddSeconds(seconds);
        }
        return Answer(200, "text/plain", token, $"{ttlHeader}: {seconds}\r\n");
    }

    private bool IsValid(string token)
    {
        lock (_tokens) return _tokens.TryGetValue(token, out var expires) && expires > _now();
    }

    private static string? Header(Dictionary<string, string> headers, string name, string alternative) =>
        headers.TryGetValue(name.ToLowerInvariant(), out string? value) || headers.TryGetValue(alternative.ToLowerInvariant(), out value) ? value : null;

    // Repeated slashes collapse, so the path is a strict JSON pointer.
    private static string Sanitize(string path)
    {
        while (path.Contains("//", StringComparison.Ordinal)) path = path.Replace("//", "/", StringComparison.Ordinal);
        return path;
    }

    /// <summary>RFC 6901: "" is the whole document; each /token names a member (~1 is '/', ~0 is '~') or an array index.</summary>
    private static bool TryResolve(JsonNode root, string pointer, out JsonNode? value)
    {
        value = root;
        if (pointer.Length == 0) return true;
        if (pointer[0] != '/') return false;
        foreach (string raw in pointer[1..].Split('/'))
        {
            string token = raw.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            switch (value)
            {
                case JsonObject obj when obj.TryGetPropertyValue(token, out var member):
                    value = member;
                    break;
                case JsonArray array when int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out int index) && index < array.Count:
                    value = array[index];
                    break;
                default:
                    return false;
            }
        }
        return true;
    }

    private static bool TryParse(ReadOnlySpan<byte> request, out string method, out string path, out Dictionary<string, string> headers)
    {
        method = path = "";
        headers = [];
        int end = request.IndexOf("\r\n\r\n"u8);
        if (end < 0) return false;
        string[] lines = Encoding.ASCII.GetString(request[..end]).Split("\r\n");
        string[] first = lines[0].Split(' ');
        if (first.Length != 3 || !first[2].StartsWith("HTTP/1.", StringComparison.Ordinal)) return false;
        method = first[0];
        string uri = first[1];
        if (uri.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            int slash = uri.IndexOf('/', 7);
            uri = slash < 0 ? "" : uri[slash..];
        }
        int query = uri.IndexOfAny(['?', '#']);
        path = query < 0 ? uri : uri[..query];
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0) return false;
            headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
        }
        return true;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static byte[] Answer(int status, string contentType, string body, string extraHeaders = "")
    {
        string reason = status switch
        {
            200 => "OK", 400 => "Bad Request", 401 => "Unauthorized", 404 => "Not Found", 405 => "Method Not Allowed",
            _ => "Not Implemented",
        };
        byte[] content = Encoding.UTF8.GetBytes(body);
        string head = $"HTTP/1.1 {status} {reason}\r\nServer: Sharpvisor MMDS\r\nConnection: close\r\nContent-Type: {contentType}\r\n"
                      + $"Content-Length: {content.Length}\r\n{extraHeaders}\r\n";
        return [.. Encoding.ASCII.GetBytes(head), .. content];
    }
}
