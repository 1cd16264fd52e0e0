namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PUT /logger: where the VMM's log goes and at which level.</summary>
public sealed record LoggerConfig
{
    public string? LogPath { get; init; }
    public string? Level { get; init; }
    public bool? ShowLevel { get; init; }
    public bool? ShowLogOrigin { get; init; }
    public string? Module { get; init; }
}
