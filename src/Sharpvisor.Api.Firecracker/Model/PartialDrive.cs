namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PATCH /drives/{id} after boot: a new host file for the drive, or a new rate limiter.</summary>
public sealed record PartialDrive
{
    public required string DriveId { get; init; }
    public string? PathOnHost { get; init; }
    public RateLimiter? RateLimiter { get; init; }
}
