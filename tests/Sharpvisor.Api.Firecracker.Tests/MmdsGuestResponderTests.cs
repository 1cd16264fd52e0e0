using System.Text;
using System.Text.Json.Nodes;
using Sharpvisor.Api.Firecracker.MicroVm;

namespace Sharpvisor.Api.Firecracker.Tests;

/// <summary>MMDS's HTTP side as the guest meets it: V2 session tokens, the IMDS and JSON formats, and the errors.</summary>
public sealed class MmdsGuestResponderTests
{
    private readonly MmdsDataStore _store = new();
    private DateTimeOffset _now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    public MmdsGuestResponderTests() => _store.Put(JsonNode.Parse("""
        {"latest": {"meta-data": {"ami-id": "ami-12345678", "count": 3, "network": {"mac": "06:00:ac:10:00:02"}, "b": "x", "a+b": "ü"}}}
        """));

    private MmdsGuestResponder Responder(bool v2 = true, bool imdsCompat = false) => new(_store, v2, imdsCompat, () => _now);

    private static (int Status, Dictionary<string, string> Headers, string Body) Ask(MmdsGuestResponder responder, string request)
    {
        string text = Encoding.UTF8.GetString(responder.Respond(Encoding.ASCII.GetBytes(request)));
        int split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        string[] head = text[..split].Split("\r\n");
        var headers = head.Skip(1).ToDictionary(l => l[..l.IndexOf(':')], l => l[(l.IndexOf(':') + 1)..].Trim());
        string body = text[(split + 4)..];
        Assert.Equal(Encoding.UTF8.GetByteCount(body), int.Parse(headers["Content-Length"]));
        return (int.Parse(head[0].Split(' ')[1]), headers, body);
    }

    private static string Token(MmdsGuestResponder responder, int seconds = 60)
    {
        var (status, headers, token) = Ask(responder, $"PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: {seconds}\r\n\r\n");
        Assert.Equal(200, status);
        Assert.Equal(seconds.ToString(), headers["X-metadata-token-ttl-seconds"]);
        return token;
    }

    [Fact]
    public void Version_2_hands_out_a_token_and_answers_only_GETs_that_carry_it()
    {
        var responder = Responder();
        string token = Token(responder);
        var (status, headers, body) = Ask(responder, $"GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: {token}\r\n\r\n");
        Assert.Equal((200, "ami-12345678", "text/plain"), (status, body, headers["Content-Type"]));
        var aws = Ask(responder, $"GET /latest/meta-data/ami-id HTTP/1.1\r\nX-aws-ec2-metadata-token: {token}\r\n\r\n");
        Assert.Equal(200, aws.Status);

        var missing = Ask(responder, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n");
        Assert.Equal(401, missing.Status);
        Assert.StartsWith("No MMDS token provided.", missing.Body);
        Assert.Equal((401, "MMDS token not valid."), (Ask(responder, "GET / HTTP/1.1\r\nX-metadata-token: forged\r\n\r\n") is var f ? (f.Status, f.Body) : default));

        _now += TimeSpan.FromSeconds(61);
        Assert.Equal(401, Ask(responder, $"GET / HTTP/1.1\r\nX-metadata-token: {token}\r\n\r\n").Status);
    }

    [Fact]
    public void Version_1_answers_GETs_without_a_token()
    {
        Assert.Equal((200, "ami-12345678"), Ask(Responder(v2: false), "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n") is var r ? (r.Status, r.Body) : default);
    }

    [Fact]
    public void IMDS_format_lists_keys_in_order_with_slashes_for_objects_and_JSON_format_gives_the_value()
    {
        var responder = Responder(v2: false);
        Assert.Equal("a+b\nami-id\nb\ncount\nnetwork/", Ask(responder, "GET /latest/meta-data/ HTTP/1.1\r\n\r\n").Body);
        Assert.Equal("meta-data/", Ask(responder, "GET //latest HTTP/1.1\r\n\r\n").Body);
        Assert.Equal("06:00:ac:10:00:02", Ask(responder, "GET /latest/meta-data/network/mac HTTP/1.1\r\nAccept: text/plain\r\n\r\n").Body);
        var json = Ask(responder, "GET /latest/meta-data/network HTTP/1.1\r\nAccept: application/json\r\n\r\n");
        Assert.Equal((200, "application/json", """{"mac":"06:00:ac:10:00:02"}"""), (json.Status, json.Headers["Content-Type"], json.Body));
        Assert.Equal("\"ü\"", Ask(responder, "GET /latest/meta-data/a+b HTTP/1.1\r\nAccept: application/json\r\n\r\n").Body);
        Assert.Equal("3", Ask(responder, "GET /latest/meta-data/count HTTP/1.1\r\nAccept: application/json\r\n\r\n").Body);

        var number = Ask(responder, "GET /latest/meta-data/count HTTP/1.1\r\n\r\n");
        Assert.Equal((501, "Cannot retrieve value. The value has an unsupported type."), (number.Status, number.Body));
        var compat = Ask(Responder(v2: false, imdsCompat: true), "GET /latest/meta-data/network HTTP/1.1\r\nAccept: application/json\r\n\r\n");
        Assert.Equal("mac", compat.Body);
    }

    [Fact]
    public void Errors_are_plain_text_with_Firecrackers_codes()
    {
        var responder = Responder();
        string token = Token(responder);
        var notFound = Ask(responder, $"GET /latest/nothing HTTP/1.1\r\nX-metadata-token: {token}\r\n\r\n");
        Assert.Equal((404, "Resource not found: /latest/nothing."), (notFound.Status, notFound.Body));
        var post = Ask(responder, "POST /latest/api/token HTTP/1.1\r\n\r\n");
        Assert.Equal((405, "GET, PUT"), (post.Status, post.Headers["Allow"]));
        Assert.Equal(404, Ask(responder, "PUT /latest/meta-data HTTP/1.1\r\nX-metadata-token-ttl-seconds: 5\r\n\r\n").Status);
        Assert.StartsWith("Token time to live value not found", Ask(responder, "PUT /latest/api/token HTTP/1.1\r\n\r\n").Body);
        Assert.Contains("between 1 and 21600", Ask(responder, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 21601\r\n\r\n").Body);
        Assert.Equal(400, Ask(responder, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: soon\r\n\r\n").Status);
        Assert.Equal(400, Ask(responder, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 5\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n").Status);
        Assert.Equal(400, Ask(responder, "garbage\r\n\r\n").Status);
    }
}
