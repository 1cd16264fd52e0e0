namespace Sharpvisor.Host.Confinement;

/// <summary>Names that become one path component (a cgroup, a jail directory): no '/', no "..", nothing a shell or a mount option would read.</summary>
public static class VmmNames
{
    public static bool IsValid(string name) =>
        name.Length is > 0 and <= 64 && name is not "." and not ".." &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
