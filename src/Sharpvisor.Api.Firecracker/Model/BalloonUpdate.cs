namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PATCH /balloon: the balloon's new size.</summary>
public sealed record BalloonUpdate
{
    public required long AmountMib { get; init; }
}
