namespace Sharpvisor.Api.Firecracker.Http;

/// <summary>One row of the route table: a method, a path (whose last segment may be <c>{id}</c>) and what it does.</summary>
public sealed record ApiRoute(string Method, string Template, Func<ApiRequest, ApiResponse> Action)
{
    private readonly string[] _segments = Template.Split('/', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Whether <paramref name="path"/> is this route's path, and the id its <c>{id}</c> segment holds.</summary>
    public bool MatchesPath(string path, out string? id)
    {
        id = null;
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length != _segments.Length) return false;
        for (int i = 0; i < segments.Length; i++)
        {
            if (_segments[i] == "{id}") id = Uri.UnescapeDataString(segments[i]);
            else if (segments[i] != _segments[i]) return false;
        }
        return true;
    }
}
