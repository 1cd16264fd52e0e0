namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PUT /actions: InstanceStart, SendCtrlAltDel or FlushMetrics.</summary>
public sealed record InstanceActionInfo
{
    public required string ActionType { get; init; }
}
