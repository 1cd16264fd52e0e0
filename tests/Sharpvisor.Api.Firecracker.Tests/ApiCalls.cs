using System.Net;
using System.Text;
using System.Text.Json;

namespace Sharpvisor.Api.Firecracker.Tests;

/// <summary>The calls the tests make, and what they check of every answer: the status and, for a 400, the one-member fault body.</summary>
internal static class ApiCalls
{
    public static async Task<(HttpStatusCode Status, string Body)> Send(this HttpClient http, string method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static async Task Succeeds(this HttpClient http, string method, string path, string json)
    {
        var (status, body) = await http.Send(method, path, json);
        Assert.True(status == HttpStatusCode.NoContent, $"{method} {path}: {(int)status} {body}");
        Assert.Equal("", body);
    }

    public static async Task<JsonElement> Get(this HttpClient http, string path)
    {
        var (status, body) = await http.Send("GET", path);
        Assert.True(status == HttpStatusCode.OK, $"GET {path}: {(int)status} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>A 400 whose body is exactly {"fault_message": "..."}; returns the message.</summary>
    public static async Task<string> Fails(this HttpClient http, string method, string path, string? json = null)
    {
        var (status, body) = await http.Send(method, path, json);
        Assert.True(status == HttpStatusCode.BadRequest, $"{method} {path}: expected 400, got {(int)status} {body}");
        var root = JsonDocument.Parse(body).RootElement;
        Assert.Equal(["fault_message"], root.EnumerateObject().Select(p => p.Name));
        return root.GetProperty("fault_message").GetString()!;
    }
}
