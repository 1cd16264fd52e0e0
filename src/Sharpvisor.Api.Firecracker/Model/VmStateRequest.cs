namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PATCH /vm: "Paused" or "Resumed".</summary>
public sealed record VmStateRequest
{
    public required string State { get; init; }
}
