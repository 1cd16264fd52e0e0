namespace Sharpvisor.Api.Firecracker;

/// <summary>The command line of `sharpvisor firecracker`, with Firecracker's option names.</summary>
public sealed record FirecrackerOptions
{
    public string? ApiSocket { get; init; }
    public string Id { get; init; } = "anonymous-instance";
    public string? ConfigFile { get; init; }
    public bool NoApi { get; init; }
    public string? Level { get; init; }
    public string? LogPath { get; init; }
    public bool BootTimer { get; init; }
}
