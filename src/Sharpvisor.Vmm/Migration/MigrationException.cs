namespace Sharpvisor.Vmm.Migration;

/// <summary>A migration failed (connection, timeout, a refusal or a damaged stream); the message says which and where.</summary>
public sealed class MigrationException(string message, Exception? inner = null) : Exception(message, inner);
