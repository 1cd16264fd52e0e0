namespace Sharpvisor.Vmm.Images;

/// <summary>apt failed in a way that apt-get update can cure (unknown package, version or file).</summary>
internal sealed class StaleAptListsException(string message) : Exception(message);
