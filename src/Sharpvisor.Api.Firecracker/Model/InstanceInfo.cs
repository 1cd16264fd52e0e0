namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>GET /: who answers and the microVM's state ("Not started", "Running", "Paused").</summary>
public sealed record InstanceInfo(string AppName, string Id, string State, string VmmVersion);
