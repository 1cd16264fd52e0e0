namespace Sharpvisor.Vmm.Snapshots;

/// <summary>A snapshot could not be written, or one on disk is refused; the message names the problem and the file.</summary>
public sealed class SnapshotException(string message, Exception? inner = null) : Exception(message, inner);
