using System.Text.RegularExpressions;

namespace Sharpvisor.Host.Storage;

/// <summary>Volume and image names: a file name of the pool or image folder, so never a path.</summary>
public static partial class StorageNames
{
    public static void Check(string what, string? name)
    {
        if (name is null || !Pattern().IsMatch(name) || name.Contains(".."))
            throw HostException.BadRequest($"{what} name '{name}' must be 1-100 letters, digits, '.', '_' and '-', starting with a letter or digit", "name");
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
    private static partial Regex Pattern();
}
