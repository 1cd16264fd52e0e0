namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// A live migration's progress, reported during each round and at its end: the round (1 is the full copy), this
/// round's pages sent of those it has to send, the totals so far, the dirty rate the last round saw, the measured
/// bandwidth and the downtime stop-and-copy would cost now.
/// </summary>
public sealed record MigrationProgress(
    MigrationPhase Phase,
    int Round,
    long RoundPagesSent,
    long RoundPages,
    long PagesSent,
    long BytesSent,
    double DirtyPagesPerSecond,
    double BytesPerSecond,
    long RemainingDirtyPages,
    TimeSpan ExpectedDowntime,
    TimeSpan Elapsed)
{
    public double MiBSent => BytesSent / (1024.0 * 1024.0);
}
