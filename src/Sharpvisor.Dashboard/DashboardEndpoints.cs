using System.Text.Json;

namespace Sharpvisor.Dashboard;

/// <summary>
/// /ui: the page (index.html, app.js, app.css), and the sign-in calls: POST /ui/login with the daemon's token sets the
/// session cookie, GET /ui/session gives a signed-in page its CSRF token, POST /ui/logout ends the session.
/// </summary>
public static class DashboardEndpoints
{
    private const int MaxLoginBody = 4096;

    public static void Map(WebApplication app, DashboardGate gate)
    {
        // Routing treats /ui and /ui/ alike; the page names its files from the root, so either serves it.
        app.MapGet(DashboardGate.PathPrefix, (HttpContext context) => Serve(context, "index.html"));
        app.MapGet(DashboardGate.PathPrefix + "/{file}", (string file, HttpContext context) => Serve(context, file));
        // A cast to Delegate: a lambda taking only HttpContext would bind as a RequestDelegate and drop the IResult.
        app.MapPost(DashboardGate.PathPrefix + "/login", (Delegate)((HttpContext context) => Login(context, gate.Sessions)));
        app.MapGet(DashboardGate.PathPrefix + "/session", (HttpContext context) => Session(context, gate.Sessions));
        app.MapPost(DashboardGate.PathPrefix + "/logout", (HttpContext context) => Logout(context, gate.Sessions));
    }

    private static IResult Serve(HttpContext context, string file)
    {
        if (!DashboardAssets.Files.TryGetValue(file, out var asset)) return Error(404, $"the dashboard has no file '{file}'");
        var headers = context.Response.Headers;
        headers.CacheControl = "no-cache";
        headers.ETag = asset.ETag;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        // Everything comes from the daemon itself; xterm.js writes its theme into a <style> element, hence the inline styles.
        headers.ContentSecurityPolicy = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'";
        if (context.Request.Headers.IfNoneMatch == asset.ETag) return Results.StatusCode(304);
        return Results.Bytes(asset.Content, asset.ContentType);
    }

    private static async Task<IResult> Login(HttpContext context, DashboardSessions sessions)
    {
        if (!DashboardGate.IsSameOrigin(context.Request)) return Error(403, $"a login from origin '{context.Request.Headers.Origin}' is not the dashboard's own");
        string? token;
        try
        {
            if (context.Request.ContentLength is > MaxLoginBody) return Error(413, $"a login body is at most {MaxLoginBody} bytes");
            using var body = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted).ConfigureAwait(false);
            token = body.RootElement.ValueKind == JsonValueKind.Object && body.RootElement.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String
                ? t.GetString() : null;
        }
        catch (JsonException e) { return Error(400, $"the login body is not JSON: {e.Message}", "token"); }
        if (string.IsNullOrWhiteSpace(token)) return Error(400, "give the daemon's token (the file STATE/token)", "token");
        if (!sessions.TokenMatches(token)) return Error(401, "that is not this daemon's token", "token");
        var (id, session) = sessions.Open();
        context.Response.Cookies.Append(DashboardGate.CookieName, id, Cookie(context, session.ExpiresAt));
        return Results.Json(new { type = "sync", status_code = 200, metadata = new { csrf_token = session.CsrfToken, expires_at = session.ExpiresAt } });
    }

    private static IResult Session(HttpContext context, DashboardSessions sessions)
    {
        var session = sessions.Find(context.Request.Cookies[DashboardGate.CookieName]);
        return session is null ? Error(401, "not signed in")
            : Results.Json(new { type = "sync", status_code = 200, metadata = new { csrf_token = session.CsrfToken, expires_at = session.ExpiresAt } });
    }

    private static IResult Logout(HttpContext context, DashboardSessions sessions)
    {
        string? id = context.Request.Cookies[DashboardGate.CookieName];
        var session = sessions.Find(id);
        if (session is not null && context.Request.Headers[DashboardGate.CsrfHeader] != session.CsrfToken)
            return Error(403, $"logging out needs the session's CSRF token in the {DashboardGate.CsrfHeader} header");
        sessions.Close(id);
        context.Response.Cookies.Delete(DashboardGate.CookieName, Cookie(context, null));
        return Results.Json(new { type = "sync", status_code = 200 });
    }

    private static CookieOptions Cookie(HttpContext context, DateTimeOffset? expires) => new()
    {
        HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, Path = "/", Expires = expires,
    };

    // The API's error shape, so the page reads every refusal the same way.
    private static IResult Error(int status, string message, string? field = null) =>
        Results.Json(new { type = "error", error_code = status, error = message, field }, statusCode: status);
}
