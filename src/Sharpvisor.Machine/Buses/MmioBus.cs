namespace Sharpvisor.Machine.Buses;

/// <summary>Guest-physical addresses that are not RAM and belong to devices.</summary>
public sealed class MmioBus() : Bus("MMIO bus");
