namespace Sharpvisor.Vmm.Migration;

/// <summary>How a live migration is run (the `migrate` verb's options).</summary>
public sealed record MigrationOptions
{
    /// <summary>Pre-copy stops, and the VM pauses for the last pages and its state, once they fit this at the measured rate.</summary>
    public TimeSpan MaxDowntime { get; init; } = TimeSpan.FromMilliseconds(50);
    /// <summary>Pre-copy rounds at most (the first sends every touched page); then stop-and-copy whatever remains.</summary>
    public int MaxRounds { get; init; } = 30;
    /// <summary>Connecting, and any one send or the wait for the destination's reply, may take this long before it fails.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    public MigrationOptions Validated()
    {
        if (MaxDowntime < TimeSpan.Zero) throw new FormatException("the downtime budget cannot be negative");
        if (MaxRounds < 1) throw new FormatException("at least one round");
        if (Timeout <= TimeSpan.Zero) throw new FormatException("the timeout must be positive");
        return this;
    }
}
