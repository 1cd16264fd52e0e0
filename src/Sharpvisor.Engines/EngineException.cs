namespace Sharpvisor.Engines;

/// <summary>An engine could not do what was asked (an ioctl failed, a resource is missing); the message says which.</summary>
public sealed class EngineException(string message) : Exception(message);
