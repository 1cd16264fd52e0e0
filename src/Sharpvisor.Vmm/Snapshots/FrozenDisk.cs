namespace Sharpvisor.Vmm.Snapshots;

/// <summary>One disk frozen for a snapshot: the path it had, the image now frozen, the new overlay the VM writes into,
/// and how to put the files back as they were, <paramref name="Previous"/> the disk's image again (valid while nothing
/// has written to the overlay: the VM still paused).</summary>
public sealed record FrozenDisk(string Previous, string Frozen, string Format, string Top, Action Undo);
