using System.Security.Cryptography;
using System.Text;

namespace Sharpvisor.Dashboard;

/// <summary>
/// Decides whether a TCP request without the bearer token may pass because a signed-in dashboard page made it:
/// the /ui pages themselves are open; an API call needs a live session cookie, and a state-changing one also the
/// session's CSRF token in <see cref="CsrfHeader"/>; a websocket (which carries no custom header) must come from the
/// daemon's own origin.
/// </summary>
public sealed class DashboardGate(DashboardSessions sessions)
{
    public const string CookieName = "sharpvisor_session";
    public const string CsrfHeader = "X-Sharpvisor-Csrf";
    public const string PathPrefix = "/ui";

    public DashboardSessions Sessions { get; } = sessions;

    /// <summary>Admitted, or not: with a reason when the request had a session but broke a rule (a 403), without one when it had none (a 401).</summary>
    public (bool Admitted, string? Refusal) Admit(HttpContext context)
    {
        var request = context.Request;
        if (request.Path.StartsWithSegments(PathPrefix, StringComparison.Ordinal)) return (true, null);
        var session = Sessions.Find(request.Cookies[CookieName]);
        if (session is null) return (false, null);
        if (context.WebSockets.IsWebSocketRequest)
            return IsSameOrigin(request) ? (true, null) : (false, $"a websocket from origin '{request.Headers.Origin}' is not the dashboard's own");
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)) return (true, null);
        string? sent = request.Headers[CsrfHeader];
        if (sent is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(sent), Encoding.ASCII.GetBytes(session.CsrfToken)))
            return (true, null);
        return (false, $"a {request.Method} made with the dashboard's cookie needs the session's CSRF token in the {CsrfHeader} header");
    }

    /// <summary>The Origin header, where the browser sent one, names this daemon's scheme, host and port.</summary>
    public static bool IsSameOrigin(HttpRequest request)
    {
        string? origin = request.Headers.Origin;
        return origin is null || string.Equals(origin, $"{request.Scheme}://{request.Host}", StringComparison.OrdinalIgnoreCase);
    }
}
