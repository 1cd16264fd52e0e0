namespace Sharpvisor.Vmm.Images;

/// <summary>Where Sharpvisor keeps downloaded and built files: $SHARPVISOR_CACHE if set, else ~/.cache/sharpvisor.</summary>
public static class GuestImageCache
{
    public const string EnvironmentVariable = "SHARPVISOR_CACHE";

    public static string Root => ResolveRoot(Environment.GetEnvironmentVariable);

    /// <summary>The cache root for a given environment (a function so it can be checked without touching the process's).</summary>
    public static string ResolveRoot(Func<string, string?> getEnvironmentVariable)
    {
        string? configured = getEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(configured)) return Path.GetFullPath(configured);
        string? home = getEnvironmentVariable("HOME");
        if (string.IsNullOrWhiteSpace(home)) home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (string.IsNullOrWhiteSpace(home))
            throw new GuestImageException($"Neither {EnvironmentVariable} nor HOME is set, so there is no cache folder.");
        return Path.Combine(home, ".cache", "sharpvisor");
    }

    /// <summary>The folder of a named image: &lt;root&gt;/images/&lt;name&gt;.</summary>
    public static string ImageDirectory(string cacheRoot, string imageName) => Path.Combine(cacheRoot, "images", imageName);
}
