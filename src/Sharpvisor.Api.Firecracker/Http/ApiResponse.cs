namespace Sharpvisor.Api.Firecracker.Http;

/// <summary>What an API call answers: 204 with no body, 200 with a JSON body, or 400 with a fault message.</summary>
public sealed record ApiResponse(int Status, object? Body)
{
    public static readonly ApiResponse NoContent = new(204, null);
    public static ApiResponse Ok(object body) => new(200, body);
    public static ApiResponse Fault(string message) => new(400, new FaultBody(message));

    /// <summary>Firecracker's error body: exactly one member.</summary>
    public sealed record FaultBody(string FaultMessage);
}
