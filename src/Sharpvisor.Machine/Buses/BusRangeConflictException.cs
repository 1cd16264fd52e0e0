namespace Sharpvisor.Machine.Buses;

/// <summary>A device asked for an address range that another device already holds.</summary>
public sealed class BusRangeConflictException(string message) : Exception(message);
