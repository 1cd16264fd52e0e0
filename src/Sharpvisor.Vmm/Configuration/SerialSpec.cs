namespace Sharpvisor.Vmm.Configuration;

/// <summary>Where COM1 goes: the VMM's own stdin/stdout, a file, or a Unix socket that one client at a time can attach to.</summary>
public sealed record SerialSpec(SerialSpec.Kind Target, string? Path)
{
    public enum Kind { Stdio, File, UnixSocket, None }

    public static readonly SerialSpec Stdio = new(Kind.Stdio, null);

    public static SerialSpec Parse(string text) => text switch
    {
        "stdio" => Stdio,
        "none" => new(Kind.None, null),
        _ when text.StartsWith("file:") && text.Length > 5 => new(Kind.File, text[5..]),
        _ when text.StartsWith("unix:") && text.Length > 5 => new(Kind.UnixSocket, text[5..]),
        _ => throw new FormatException($"bad serial target '{text}': expected stdio, none, file:PATH or unix:PATH"),
    };

    public override string ToString() => Target switch
    {
        Kind.Stdio => "stdio", Kind.None => "none", Kind.File => $"file:{Path}", _ => $"unix:{Path}",
    };
}
