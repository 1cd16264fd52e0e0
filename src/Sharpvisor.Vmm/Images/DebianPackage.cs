namespace Sharpvisor.Vmm.Images;

/// <summary>A binary package as apt's candidate: name, exact version and download size in bytes.</summary>
public sealed record DebianPackage(string Name, string Version, long Size)
{
    /// <summary>"name=version", the form apt-get takes to fetch exactly this version.</summary>
    public string PinnedName => $"{Name}={Version}";
}
