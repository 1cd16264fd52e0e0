namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PUT /metrics: the file that gets one JSON line of metrics every 60 s and on FlushMetrics.</summary>
public sealed record MetricsConfig
{
    public required string MetricsPath { get; init; }
    public bool? EmitId { get; init; }
    public Dictionary<string, string>? Properties { get; init; }
}
