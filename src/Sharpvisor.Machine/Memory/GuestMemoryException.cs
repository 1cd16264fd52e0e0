namespace Sharpvisor.Machine.Memory;

/// <summary>A guest-physical access that falls outside guest RAM, or a mapping that could not be made.</summary>
public sealed class GuestMemoryException(string message) : Exception(message);
