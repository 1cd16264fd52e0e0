namespace Sharpvisor.Vmm.Images;

/// <summary>A binary package as apt's candidate: name, exact version, download size in bytes and its Depends field.</summary>
public sealed record DebianPackage(string Name, string Version, long Size, string Depends = "")
{
    /// <summary>"name=version", the form apt-get takes to fetch exactly this version.</summary>
    public string PinnedName => $"{Name}={Version}";

    /// <summary>
    /// The first package in Depends whose name starts with <paramref name="prefix"/>, e.g. the versioned
    /// linux-image-6.1.0-28-cloud-amd64 that the metapackage linux-image-cloud-amd64 pulls in; null if none.
    /// </summary>
    public string? FindDependency(string prefix) =>
        Depends.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(group => group.Split('|', StringSplitOptions.TrimEntries))
            .Select(alternative => alternative.Split(' ', '(')[0].Trim())
            .FirstOrDefault(name => name.StartsWith(prefix, StringComparison.Ordinal) && name != Name);
}
