using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Serial;

/// <summary>Makes the backend a <see cref="SerialSpec"/> names.</summary>
public static class SerialBackends
{
    /// <param name="stdin">The VMM's standard input, for stdio; null when it has none (it was closed).</param>
    /// <param name="stdout">The VMM's standard output, for stdio.</param>
    /// <param name="rawTerminal">stdin is a terminal in raw mode, so Ctrl-A escapes apply.</param>
    public static ISerialBackend Create(SerialSpec spec, Stream? stdin, Stream stdout, bool rawTerminal) => spec.Target switch
    {
        SerialSpec.Kind.Stdio => new StreamSerialBackend(stdout, stdin, rawTerminal),
        SerialSpec.Kind.File => new StreamSerialBackend(
            new FileStream(spec.Path!, FileMode.Append, FileAccess.Write, FileShare.Read), null, false),
        SerialSpec.Kind.UnixSocket => new UnixSocketSerialBackend(spec.Path!),
        _ => new StreamSerialBackend(Stream.Null, null, false),
    };
}
