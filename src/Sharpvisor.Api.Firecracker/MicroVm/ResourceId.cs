using Sharpvisor.Api.Firecracker.Http;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>Ids of drives and interfaces, as Firecracker allows them: not empty, ASCII letters, digits and underscores.</summary>
internal static class ResourceId
{
    /// <summary>Checks the path's id and that the body names the same one (the path wins nothing: both must agree).</summary>
    public static string Check(string? pathId, string bodyId, string field)
    {
        if (string.IsNullOrEmpty(pathId)) throw new ApiFaultException("the resource id in the path is empty");
        if (!pathId.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            throw new ApiFaultException($"the resource id '{pathId}' may hold only ASCII letters, digits and underscores");
        if (pathId != bodyId) throw new ApiFaultException($"the id in the path ('{pathId}') differs from '{field}' in the body ('{bodyId}')");
        return pathId;
    }

    /// <summary>A rate limiter where this VMM has none (the entropy device): refused by name rather than ignored.</summary>
    public static void RefuseRateLimiter(object? limiter, string field)
    {
        if (limiter is not null)
            throw new ApiFaultException($"'{field}': the entropy device has no rate limiter in Sharpvisor yet (drives and network interfaces do); leave it out");
    }
}
