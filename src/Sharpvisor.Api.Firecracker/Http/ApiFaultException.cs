namespace Sharpvisor.Api.Firecracker.Http;

/// <summary>A request the microVM refuses: answered 400 with the message as <c>fault_message</c>; nothing changed.</summary>
public sealed class ApiFaultException(string message) : Exception(message);
