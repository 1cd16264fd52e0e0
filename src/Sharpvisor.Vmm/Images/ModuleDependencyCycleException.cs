namespace Sharpvisor.Vmm.Images;

/// <summary>Thrown when module dependencies form a cycle, so no load order exists.</summary>
public sealed class ModuleDependencyCycleException : Exception
{
    public ModuleDependencyCycleException(IReadOnlyList<string> cycle)
        : base($"Kernel module dependencies form a cycle: {string.Join(" -> ", cycle)}")
    {
        Cycle = cycle;
    }

    /// <summary>The modules on the cycle, the first repeated at the end (a -> b -> a).</summary>
    public IReadOnlyList<string> Cycle { get; }
}
