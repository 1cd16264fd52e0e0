namespace Sharpvisor.Host;

/// <summary>
/// A request the host refuses, with the HTTP status it maps to: 400 bad input, 404 no such thing, 409 a conflict with
/// the current state (busy, running, over capacity), 422 well-formed but impossible. <see cref="Field"/> names the
/// request field at fault, when one is.
/// </summary>
public class HostException(int statusCode, string message, string? field = null) : Exception(message)
{
    public int StatusCode { get; } = statusCode;
    public string? Field { get; } = field;

    public static HostException NotFound(string what) => new(404, what);
    public static HostException Conflict(string why) => new(409, why);
    public static HostException BadRequest(string why, string? field = null) => new(400, why, field);
}
