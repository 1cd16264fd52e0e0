namespace Sharpvisor.Machine.Boot;

/// <summary>A kernel or initrd image that cannot be loaded, with the reason in words a user can act on.</summary>
public sealed class KernelImageException(string message) : Exception(message);
