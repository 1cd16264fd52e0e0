namespace Sharpvisor.Api.Firecracker.Http;

/// <summary>One API call as the route table sees it: method, path, the path's resource id (if any) and the body.</summary>
public sealed record ApiRequest(string Method, string Path, string? Id, byte[] Body)
{
    public string Name => $"{Method} {Path}";

    /// <summary>The body read strictly as <typeparamref name="T"/>; a fault naming the field otherwise.</summary>
    public T Json<T>() => StrictJsonBody.Read<T>(Body, Name);
}
