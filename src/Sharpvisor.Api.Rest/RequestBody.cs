using System.Text.Json;
using Sharpvisor.Host;

namespace Sharpvisor.Api.Rest;

/// <summary>Reads a JSON request body: at most 1 MiB, every field known, and a 400 that names what is wrong.</summary>
public static class RequestBody
{
    public const int MaxBytes = 1 << 20;
    /// <summary>How much of a refused body is read and dropped, so the client, still sending, gets the 413 rather than a reset connection.</summary>
    public const int DrainBytes = 16 << 20;

    public static async Task<T> ReadAsync<T>(HttpRequest request)
    {
        if (request.ContentLength > MaxBytes)
        {
            await DrainAsync(request).ConfigureAwait(false);
            throw new HostException(413, $"the request body is {request.ContentLength:N0} bytes; at most {MaxBytes:N0}");
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int n;
        while ((n = await request.Body.ReadAsync(chunk).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > MaxBytes)
            {
                await DrainAsync(request).ConfigureAwait(false);
                throw new HostException(413, $"the request body is more than {MaxBytes:N0} bytes");
            }
            buffer.Write(chunk, 0, n);
        }
        if (buffer.Length == 0) throw HostException.BadRequest("the request has no JSON body");
        try
        {
            return JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), ApiJson.Options)
                ?? throw HostException.BadRequest("the JSON body is null");
        }
        catch (JsonException e)
        {
            throw HostException.BadRequest(Describe(e), FieldOf(e.Path));
        }
    }

    private static async Task DrainAsync(HttpRequest request)
    {
        var chunk = new byte[16384];
        try { while (await request.Body.ReadAsync(chunk).ConfigureAwait(false) > 0) { } }
        catch (Exception e) when (e is IOException or Microsoft.AspNetCore.Http.BadHttpRequestException or OperationCanceledException) { }
    }

    private static string? FieldOf(string? path) => path is null or "$" ? null : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;

    // System.Text.Json names the CLR type; a caller wants to know which field and why.
    private static string Describe(JsonException e)
    {
        string? field = FieldOf(e.Path);
        if (e.Message.Contains("could not be mapped", StringComparison.Ordinal))
            return $"unknown field '{field}'";
        if (e.Message.Contains("missing required properties", StringComparison.Ordinal) || e.Message.Contains("parameter", StringComparison.Ordinal))
            return $"a required field is missing: {e.Message.Split(':').Last().Trim().TrimEnd('.')}";
        return field is null ? $"the body is not valid JSON: {e.Message.Split(" Path:")[0]}" : $"field '{field}' has the wrong type or value";
    }
}
