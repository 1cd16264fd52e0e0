namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// A qcow2 image that breaks the format (or uses a part of it we do not implement): the message names the header field
/// or table at fault. An <see cref="IOException"/>, so a device answers the request with an I/O error.
/// </summary>
public sealed class Qcow2FormatException(string field, string problem) : IOException($"qcow2 {field}: {problem}")
{
    /// <summary>The header field or metadata structure at fault, e.g. "l1_size" or "L2 entry".</summary>
    public string Field { get; } = field;
}
