namespace Sharpvisor.Vmm.Images;

/// <summary>
/// A module the initramfs should load. A required one must exist as a loadable module or be built into the kernel;
/// an optional one is taken only if the kernel has it as a module. Dependencies are added either way.
/// </summary>
public sealed record ModuleRequest(string Name, bool Required);
