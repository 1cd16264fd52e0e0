namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>A fact that is skipped, with the reason, where <see cref="LinuxCounterNamespaces"/> cannot be made (not root, no ip).</summary>
public sealed class LinuxCounterRootFactAttribute : FactAttribute
{
    public LinuxCounterRootFactAttribute()
    {
        if (LinuxCounterNamespaces.WhyUnavailable() is { } reason) Skip = reason;
    }
}
