using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>GET /vm/config, and the JSON --config-file takes: every resource of the microVM under its API name.</summary>
public sealed record FullVmConfiguration
{
    [JsonPropertyName("balloon")] public Balloon? Balloon { get; init; }
    [JsonPropertyName("drives")] public IReadOnlyList<Drive> Drives { get; init; } = [];
    [JsonPropertyName("boot-source")] public BootSource? BootSource { get; init; }
    [JsonPropertyName("cpu-config")] public JsonElement? CpuConfig { get; init; }
    [JsonPropertyName("logger")] public LoggerConfig? Logger { get; init; }
    [JsonPropertyName("machine-config")] public MachineConfiguration? MachineConfig { get; init; }
    [JsonPropertyName("metrics")] public MetricsConfig? Metrics { get; init; }
    [JsonPropertyName("mmds-config")] public MmdsConfig? MmdsConfig { get; init; }
    [JsonPropertyName("network-interfaces")] public IReadOnlyList<NetworkInterface> NetworkInterfaces { get; init; } = [];
    [JsonPropertyName("vsock")] public VsockDevice? Vsock { get; init; }
    [JsonPropertyName("entropy")] public EntropyDevice? Entropy { get; init; }
}
