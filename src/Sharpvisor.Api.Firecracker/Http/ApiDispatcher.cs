namespace Sharpvisor.Api.Firecracker.Http;

/// <summary>
/// Finds a request's row in the route table and runs it, one request at a time: a path or method the table does not
/// have, a GET with a body or a PUT/PATCH without one, and every <see cref="ApiFaultException"/> become a 400 fault.
/// </summary>
public sealed class ApiDispatcher(IReadOnlyList<ApiRoute> routes)
{
    private readonly Lock _oneAtATime = new();

    public ApiResponse Dispatch(string method, string path, byte[] body)
    {
        ApiRoute? route = null;
        string? id = null;
        bool pathKnown = false;
        foreach (var candidate in routes)
        {
            if (!candidate.MatchesPath(path, out var candidateId)) continue;
            pathKnown = true;
            if (candidate.Method != method) continue;
            route = candidate;
            id = candidateId;
            break;
        }
        if (route is null)
            return ApiResponse.Fault(pathKnown ? $"{path} does not take {method} requests" : $"no such API path: {method} {path}");
        if (method == "GET" && body.Length > 0) return ApiResponse.Fault($"GET {path} takes no body");
        if (method is "PUT" or "PATCH" && body.Length == 0) return ApiResponse.Fault($"{method} {path} needs a JSON body");
        lock (_oneAtATime)
        {
            try
            {
                return route.Action(new ApiRequest(method, path, id, body));
            }
            catch (ApiFaultException e)
            {
                return ApiResponse.Fault(e.Message);
            }
            catch (MicroVm.MmdsLimitException e)
            {
                return ApiResponse.Fault(e.Message) with { Status = 413 };
            }
        }
    }
}
